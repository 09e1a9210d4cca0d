"""`evolve`: fold one event into a task's state (pure; the other half of `machine.decide`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from taskstream.domain import events as e
from taskstream.domain.envelope import Envelope
from taskstream.domain.state import (
    Attempt,
    Status,
    TaskState,
    copy_with,
    new_attempt,
    new_dispatch,
    new_state,
    with_changes,
)


def _ts(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _finish(state: TaskState, number: int, p: dict[str, Any], outcome: str) -> tuple[Attempt, ...]:
    finished = _ts(p.get("finished_at"))
    return tuple(
        new_attempt(
            a.number,
            a.worker,
            a.started_at,
            finished_at=finished,
            error=p.get("error"),
            traceback=p.get("traceback") or None,
            outcome=outcome,
        )
        if a.number == number
        else a
        for a in state.attempts
    )


def _submitted(event_task: str, p: dict[str, Any], base: dict[str, Any]) -> TaskState:
    return new_state(
        id=event_task,
        queue=p["queue"],
        type=p["type"],
        payload=p.get("payload"),
        priority=p["priority"],
        max_attempts=p["max_attempts"],
        timeout_seconds=p["timeout_seconds"],
        labels=dict(p.get("labels") or {}),
        status=Status(p["status"]),
        run_at=_ts(p.get("run_at")),
        ready_at=base["created_at"] if p["status"] == Status.PENDING.value else None,
        backoff_base_seconds=p.get("backoff_base_seconds"),
        backoff_max_seconds=p.get("backoff_max_seconds"),
        **base,
    )


def _cancelled(state: TaskState, p: dict[str, Any]) -> dict[str, Any]:
    ended = state.attempts
    number = p.get("attempt")
    if number is not None:
        # The attempt that was running keeps what its worker said happened to it.
        ended = _finish(state, number, p, p.get("attempt_outcome", "cancelled"))
    return {
        "status": Status.CANCELLED,
        "dispatch": None,
        "run_at": None,
        "attempts": ended,
        "cancel_requested": False,
        "cancel_reason": p.get("reason", state.cancel_reason),
    }


def _changes(state: TaskState, t: str, p: dict[str, Any], at: datetime) -> dict[str, Any]:
    """What an event of type `t` changes besides the version, time and commands seen."""
    if t == e.TASK_READY:
        return {
            "status": Status.PENDING,
            "run_at": None,
            "ready_at": at,
            "not_before": _ts(p.get("not_before")),
        }
    if t == e.TASK_DISPATCHED:
        dispatched = datetime.fromisoformat(p["dispatched_at"])
        return {"dispatch": new_dispatch(p["attempt"], p["dispatch_id"], dispatched)}
    if t == e.ATTEMPT_STARTED:
        attempt = new_attempt(p["attempt"], p["worker"], datetime.fromisoformat(p["started_at"]))
        return {
            "status": Status.RUNNING,
            "dispatch": None,
            "attempts": (*state.attempts, attempt),
            "not_before": None,
        }
    if t in (e.ATTEMPT_FAILED, e.ATTEMPT_TIMED_OUT):
        outcome = "failed" if t == e.ATTEMPT_FAILED else "timed_out"
        return {
            "status": Status.SCHEDULED,
            "run_at": _ts(p["retry_at"]),
            "attempts": _finish(state, p["attempt"], p, outcome),
        }
    if t == e.TASK_SUCCEEDED:
        return {
            "status": Status.SUCCEEDED,
            "result": p.get("result"),
            "attempts": _finish(state, p["attempt"], p, "succeeded"),
        }
    if t == e.TASK_DEAD_LETTERED:
        outcome = "timed_out" if p.get("cause") in ("lease", "timeout") else "failed"
        return {
            "status": Status.DEAD,
            "dispatch": None,
            "attempts": _finish(state, p["attempt"], p, outcome),
        }
    if t == e.TASK_CANCEL_REQUESTED:
        return {"cancel_requested": True, "cancel_reason": p.get("reason", "")}
    if t == e.TASK_CANCELLED:
        return _cancelled(state, p)
    if t == e.TASK_REDRIVEN:
        return {
            "status": Status.PENDING,
            "run_at": None,
            "dispatch": None,
            "result": None,
            "attempt_base": p["attempt_base"],
            "redrives": p["redrive"],
            "ready_at": at,
            "not_before": None,
        }
    raise ValueError(f"unknown event type {t!r}")


_NONE_SEEN: frozenset[str] = frozenset()


def _seen(state: TaskState | None, cause: str | None) -> frozenset[str]:
    """The commands seen once `cause` is added (the same set when it is there already)."""
    if state is None:
        return frozenset((cause,)) if cause else frozenset()
    seen = state.seen_commands
    return seen.union((cause,)) if cause and cause not in seen else seen


def evolve(state: TaskState | None, event: Envelope, *, commands: bool = True) -> TaskState | None:
    """The state after `event` (raises `ValueError` for an event that cannot apply).

    `commands=False` leaves `seen_commands` as it was, for a read model: only `decide`
    reads them, and no projection keeps them (a tenth of `evolve`'s time in a rebuild).
    """
    p = event.payload
    at = event.occurred_at
    if commands:
        seen = _seen(state, event.causation_id)
    else:
        seen = state.seen_commands if state is not None else _NONE_SEEN
    if event.type == e.COMMAND_REJECTED:
        return with_changes(state, seen_commands=seen) if state else None
    if event.type == e.TASK_SUBMITTED:
        if state is not None:
            raise ValueError(f"task {event.task_id} submitted twice")
        common = {
            "tenant": event.tenant,
            "created_at": at,
            "updated_at": at,
            "version": event.version,
            "correlation_id": event.correlation_id,
            "seen_commands": seen,
        }
        return _submitted(event.task_id, p, common)
    if state is None:
        raise ValueError(f"{event.type} for unknown task {event.task_id}")
    if event.version != state.version + 1:
        raise ValueError(
            f"task {state.id}: version {event.version} does not follow {state.version}"
        )
    changes = _changes(state, event.type, p, at)
    changes["version"] = event.version
    changes["updated_at"] = at
    changes["seen_commands"] = seen
    return copy_with(state, changes)


def fold(events: list[Envelope], state: TaskState | None = None) -> TaskState | None:
    """The state after all `events`, in order."""
    for event in events:
        state = evolve(state, event)
    return state
