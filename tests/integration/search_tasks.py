"""Task handlers the search integration tests run on their own worker (`--tasks`)."""

from __future__ import annotations

from typing import Any

from taskstream.registry import TaskContext, task


@task("search.echo")
def echo(payload: Any) -> Any:
    """Return the payload."""
    return payload


@task("search.fail")
def fail(payload: Any) -> None:
    """Fail with the payload's `error` text."""
    raise RuntimeError(payload["error"])


@task("search.log")
def log_line(payload: Any, ctx: TaskContext) -> dict[str, bool]:
    """Log the payload's `line` as a warning."""
    ctx.log(payload["line"], "warning")
    return {"logged": True}
