"""Submit defaults: explicit submit value > task-type default > global default.

A `task.submit` may omit `queue`, `priority`, `max_attempts`, `timeout_seconds` and the
backoff bounds (null in the command: omitted and explicit stay distinguishable). The
scheduler's `decide` fills them from the defaults its task type was registered with
(`@task(...)`, announced by the workers that run it) and then from the global defaults
(settings), and stores the resolved values in `task.submitted`, with `defaults` naming
where each filled-in value came from. Replaying the log never resolves again, so a later
change of a type's defaults leaves earlier tasks as they were.

Pure: both directories are inputs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from taskstream.domain.commands import QUEUE_PATTERN

# Fields a task type may default, with the check each announced value must pass.
DEFAULTED: Final = (
    "queue",
    "priority",
    "max_attempts",
    "timeout_seconds",
    "backoff_base_seconds",
    "backoff_max_seconds",
)


@dataclass(frozen=True, slots=True)
class GlobalDefaults:
    """What a submit gets for a field neither it nor its task type sets."""

    queue: str = "default"
    priority: int = 5
    max_attempts: int = 3
    timeout_seconds: float = 300.0
    # None: the scheduler's retry policy (settings) applies when the retry is decided.
    backoff_base_seconds: float | None = None
    backoff_max_seconds: float | None = None


@dataclass(frozen=True, slots=True)
class Defaults:
    """The global defaults and each task type's announced ones."""

    global_: GlobalDefaults = GlobalDefaults()
    types: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


def _valid(name: str, value: Any) -> bool:
    if value is None or isinstance(value, bool):
        return False
    if name == "queue":
        return isinstance(value, str) and re.fullmatch(QUEUE_PATTERN, value) is not None
    if name == "priority":
        return isinstance(value, int) and 0 <= value <= 9
    if name == "max_attempts":
        return isinstance(value, int) and 1 <= value <= 100
    if name == "timeout_seconds":
        return isinstance(value, int | float) and 0 < value <= 7 * 86400
    if name == "backoff_base_seconds":
        return isinstance(value, int | float) and 0 <= value <= 86400
    return isinstance(value, int | float) and 0 <= value <= 7 * 86400


def clean_type_defaults(announced: Any) -> dict[str, Any]:
    """The valid defaults of one announced task type; anything else is dropped.

    Workers announce these on the workers topic; a bad value from an old or foreign
    worker must not reach a task."""
    if not isinstance(announced, Mapping):
        return {}
    return {k: announced[k] for k in DEFAULTED if k in announced and _valid(k, announced[k])}


def resolve(
    submitted: Mapping[str, Any], type_: str, defaults: Defaults
) -> tuple[dict[str, Any], dict[str, str]]:
    """(`submitted` with omitted fields filled in, where each filled one came from:
    `type` or `global`)."""
    own = clean_type_defaults(defaults.types.get(type_))
    out = dict(submitted)
    sources: dict[str, str] = {}
    for name in DEFAULTED:
        if out.get(name) is not None:
            continue
        if name in own:
            out[name], sources[name] = own[name], "type"
        else:
            out[name], sources[name] = getattr(defaults.global_, name), "global"
    return out, sources
