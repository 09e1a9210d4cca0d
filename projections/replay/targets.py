"""Rebuild targets: each read model that `taskstream replay rebuild` can rebuild.

A target is an async function `(settings, *, progress) -> report` named by module and
attribute, imported only when chosen. Adding one is one line here; a target whose module
is not in this build answers with a clear error instead of failing at import.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Target:
    """Where a target's rebuild function lives, and what it rebuilds."""

    module: str
    function: str
    what: str


TARGETS: dict[str, Target] = {
    "postgres": Target(
        "projections.replay.switch", "rebuild_postgres",
        "tasks, event archive, attempts, log lines and schedules in Postgres",
    ),
    "search": Target(
        "projections.replay.more_targets", "rebuild_search_target",
        "the Elasticsearch indices (or, on Postgres full text, the Postgres model)",
    ),
    "redis": Target(
        "projections.replay.more_targets", "rebuild_redis_target",
        "the Redis queue counters, recounted from Postgres",
    ),
}  # fmt: skip


class TargetUnavailable(LookupError):
    """The target is unknown or its module is not part of this build."""


def resolve(name: str) -> Callable[..., Coroutine[Any, Any, Any]]:
    """The rebuild function of target `name` (raises `TargetUnavailable`)."""
    target = TARGETS.get(name)
    if target is None:
        raise TargetUnavailable(f"unknown target {name!r}; choose from {', '.join(TARGETS)}")
    try:
        module = importlib.import_module(target.module)
        fn: Callable[..., Coroutine[Any, Any, Any]] = getattr(module, target.function)
    except (ImportError, AttributeError) as exc:
        raise TargetUnavailable(
            f"rebuilding {name} is not available in this build: "
            f"{target.module}.{target.function} cannot be imported ({exc})"
        ) from None
    return fn
