"""The payload fields each event type carries at the current schema version.

What `evolve` and the read models rely on, checked against the golden samples of every
event type and version once upcast (tests/unit/test_golden.py). Optional fields (such
as `task.submitted`'s `defaults`, absent from records written before it existed) are
not listed.
"""

from __future__ import annotations

from typing import Final

from taskstream.domain import events as e
from taskstream.domain import queue_model as q
from taskstream.domain import schedule_model as s

_FAILURE = ("attempt", "worker", "error", "finished_at", "retry_at", "backoff_seconds")

EVENT_FIELDS: Final[dict[str, frozenset[str]]] = {
    e.TASK_SUBMITTED: frozenset(
        {"queue", "type", "payload", "priority", "max_attempts", "timeout_seconds", "labels"}
        | {"run_at", "status", "backoff_base_seconds", "backoff_max_seconds"}
    ),
    e.TASK_READY: frozenset(),
    e.TASK_DISPATCHED: frozenset({"attempt", "dispatch_id", "dispatched_at"}),
    e.ATTEMPT_STARTED: frozenset({"attempt", "worker", "started_at"}),
    e.ATTEMPT_FAILED: frozenset({*_FAILURE, "traceback"}),
    e.ATTEMPT_TIMED_OUT: frozenset({*_FAILURE, "cause"}),
    e.TASK_SUCCEEDED: frozenset({"attempt", "worker", "result", "finished_at"}),
    e.TASK_DEAD_LETTERED: frozenset({"attempt", "worker", "error", "finished_at", "reason"}),
    e.TASK_CANCEL_REQUESTED: frozenset({"reason", "attempt", "worker", "requested_at"}),
    e.TASK_CANCELLED: frozenset({"reason", "cancelled_at"}),
    e.TASK_REDRIVEN: frozenset({"redrive", "reason", "attempt_base", "redriven_at"}),
    e.COMMAND_REJECTED: frozenset({"command_id", "command_type", "reason"}),
    s.SCHEDULE_CREATED: frozenset(
        {"cron", "timezone", "template", "misfire", "jitter_seconds", "paused", "next_due_at"}
    ),
    s.SCHEDULE_PAUSED: frozenset({"at"}),
    s.SCHEDULE_RESUMED: frozenset({"at"}),
    s.SCHEDULE_DELETED: frozenset({"at"}),
    s.SCHEDULE_FIRED: frozenset(
        {"due_at", "fired_at", "task_id", "run_at", "missed", "next_due_at"}
    ),
    s.SCHEDULE_SKIPPED: frozenset({"missed", "first_missed_at", "next_due_at"}),
    q.QUEUE_PAUSED: frozenset({"queue", "reason", "at"}),
    q.QUEUE_RESUMED: frozenset({"queue", "reason", "at"}),
    q.QUEUE_LIMIT_SET: frozenset({"queue", "reason", "at", "limit", "previous"}),
}

ALL_EVENTS: Final = (*e.ALL_EVENT_TYPES, *s.SCHEDULE_EVENT_TYPES, *q.QUEUE_EVENT_TYPES)


def missing_fields(type_: str, payload: dict[str, object]) -> list[str]:
    """The fields the current schema of `type_` needs that `payload` lacks (raises
    `KeyError` for an unknown type)."""
    return sorted(EVENT_FIELDS[type_] - payload.keys())
