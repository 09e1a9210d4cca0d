"""Taskstream: an event-sourced distributed task scheduler on Kafka."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Client", "TaskstreamAPIError", "__version__"]

if TYPE_CHECKING:
    from taskstream.client import Client, TaskstreamAPIError


def __getattr__(name: str) -> Any:
    # Lazy: `import taskstream` stays light (no httpx, no aiokafka) until the client is used.
    if name in ("Client", "TaskstreamAPIError"):
        from taskstream import client

        return getattr(client, name)
    raise AttributeError(f"module 'taskstream' has no attribute {name!r}")
