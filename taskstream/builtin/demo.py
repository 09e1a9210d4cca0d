"""Demo task types: `demo.echo`, `demo.sleep`, `demo.fail` (retries end to end)."""

from __future__ import annotations

import asyncio
from typing import Any

from taskstream.registry import NonRetryableError, Registry, TaskContext

_MAX_SLEEP = 7 * 86400.0


def echo(payload: Any) -> Any:
    """Return the payload unchanged."""
    return payload


async def sleep(payload: Any, ctx: TaskContext) -> dict[str, float]:
    """Sleep `payload["seconds"]` without blocking the worker; returns `{"slept": s}`."""
    seconds = _number(payload, "seconds", default=1.0)
    if not 0 <= seconds <= _MAX_SLEEP:
        raise NonRetryableError(f"payload.seconds must be 0..{_MAX_SLEEP:.0f}, not {seconds}")
    ctx.log(f"sleeping {seconds:g}s")
    await asyncio.sleep(seconds)
    ctx.log(f"slept {seconds:g}s")
    return {"slept": seconds}


def fail(payload: Any, ctx: TaskContext) -> dict[str, int]:
    """Fail the first `payload["failures"]` attempts, then return `{"attempt": n}`."""
    failures = int(_number(payload, "failures", default=1))
    if ctx.attempt <= failures:
        ctx.log(f"attempt {ctx.attempt} fails on purpose ({failures} failures asked)", "warning")
        raise RuntimeError(f"demo failure {ctx.attempt} of {failures}")
    return {"attempt": ctx.attempt}


def _number(payload: Any, name: str, *, default: float) -> float:
    if payload is None:
        return default
    if not isinstance(payload, dict):
        raise NonRetryableError(f"payload must be an object with {name!r}, not {payload!r}")
    value = payload.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise NonRetryableError(f"payload.{name} must be a number, not {value!r}")
    return float(value)


def register(registry: Registry) -> None:
    """Add the demo task types to `registry`."""
    registry.register("demo.echo", echo)
    registry.register("demo.sleep", sleep)
    registry.register("demo.fail", fail)
