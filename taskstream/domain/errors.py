"""The error hierarchy: one root, domain rejections and infrastructure failures."""

from __future__ import annotations


class TaskstreamError(Exception):
    """Root of every error Taskstream raises on purpose."""


class DomainRejection(TaskstreamError):
    """A command that the domain refuses (recorded as `command.rejected`, answered 4xx)."""


class InfrastructureError(TaskstreamError):
    """A failure of the broker, the database or the network (retried at the edge)."""


class DecodeError(TaskstreamError):
    """A record that cannot be decoded into an envelope."""
