"""A task type with registered defaults, loaded by the queue tests' worker (`--tasks`)."""

from __future__ import annotations

from typing import Any

from taskstream.registry import task


@task(
    "itest.typed",
    queue="itest-typed",
    priority=7,
    max_attempts=4,
    timeout_seconds=42,
    backoff_base_seconds=0.25,
)
def typed(payload: Any) -> Any:
    """Return the payload."""
    return payload
