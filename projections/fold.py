"""The pure core of the task projection: stored rows <-> `TaskState`, and batch folding.

`fold_batch` is what the Postgres apply runs between loading the affected rows and
upserting them. It is idempotent by task version (an event at or below the stored
version is a duplicate) and depends on nothing but the state and the event, so applying
a batch twice equals applying it once, and any split of a stream into batches ends in
the same states.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from taskstream.domain import events as e
from taskstream.domain.envelope import Envelope
from taskstream.domain.machine import evolve
from taskstream.domain.state import Attempt, Dispatch, Status, TaskState


def _ts(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def fold_extras(state: TaskState) -> dict[str, Any]:
    """What `evolve` carries beyond `TaskState.as_dict()` (stored in the `fold` column)."""
    d = state.dispatch
    return {
        "dispatch": (
            {
                "attempt": d.attempt,
                "dispatch_id": d.dispatch_id,
                "dispatched_at": d.dispatched_at.isoformat(),
            }
            if d
            else None
        ),
        "backoff_base_seconds": state.backoff_base_seconds,
        "backoff_max_seconds": state.backoff_max_seconds,
        "cancel_reason": state.cancel_reason,
        "attempt_base": state.attempt_base,
        "ready_at": state.ready_at.isoformat() if state.ready_at else None,
        "not_before": state.not_before.isoformat() if state.not_before else None,
    }


def _attempt(a: Mapping[str, Any]) -> Attempt:
    return Attempt(
        number=a["number"],
        worker=a["worker"],
        started_at=datetime.fromisoformat(a["started_at"]),
        finished_at=_ts(a.get("finished_at")),
        error=a.get("error"),
        traceback=a.get("traceback"),
        outcome=a.get("outcome", "running"),
    )


def state_from_dict(data: Mapping[str, Any], extras: Mapping[str, Any] | None = None) -> TaskState:
    """A `TaskState` from its `as_dict()` form (plus `fold_extras`); `seen_commands` empty.

    The read model does not keep the commands seen: only `decide` reads them, and it
    runs in the scheduler on state folded from the log.
    """
    extras = extras or {}
    d = extras.get("dispatch")
    return TaskState(
        id=data["id"],
        tenant=data["tenant"],
        queue=data["queue"],
        type=data["type"],
        payload=data.get("payload"),
        priority=data["priority"],
        max_attempts=data["max_attempts"],
        timeout_seconds=float(data["timeout_seconds"]),
        labels=dict(data.get("labels") or {}),
        created_at=datetime.fromisoformat(data["created_at"]),
        updated_at=datetime.fromisoformat(data["updated_at"]),
        status=Status(data["status"]),
        version=data["version"],
        run_at=_ts(data.get("run_at")),
        backoff_base_seconds=extras.get("backoff_base_seconds"),
        backoff_max_seconds=extras.get("backoff_max_seconds"),
        attempts=tuple(_attempt(a) for a in data.get("attempts") or ()),
        dispatch=(
            Dispatch(d["attempt"], d["dispatch_id"], datetime.fromisoformat(d["dispatched_at"]))
            if d
            else None
        ),
        result=data.get("result"),
        correlation_id=data.get("correlation_id"),
        cancel_requested=bool(data.get("cancel_requested", False)),
        cancel_reason=extras.get("cancel_reason"),
        attempt_base=int(extras.get("attempt_base") or 0),
        redrives=int(data.get("redrives") or 0),
        ready_at=_ts(extras.get("ready_at")),
        not_before=_ts(extras.get("not_before")),
    )


@dataclass(frozen=True, slots=True)
class FoldError:
    """An event that could not be folded (a version gap, a malformed payload)."""

    task_id: str
    version: int
    stored_version: int | None
    type: str
    error: str


class Transition(NamedTuple):
    """One event folded into its task: the state before (None for a submit) and after.

    A named tuple: one is made per record, at half the cost of a frozen dataclass.
    """

    before: TaskState | None
    event: Envelope
    after: TaskState


@dataclass(slots=True)
class FoldResult:
    """The tasks a batch moved forward, and the events it could not fold."""

    changed: dict[str, TaskState] = field(default_factory=dict)
    errors: list[FoldError] = field(default_factory=list)
    duplicates: int = 0
    # Every event that moved a task, with the state before and after (log order).
    transitions: list[Transition] = field(default_factory=list)


def affected_task_ids(events: Iterable[Envelope]) -> list[str]:
    """Ids of the tasks whose state `events` may change, in first-seen order."""
    return list(dict.fromkeys(ev.task_id for ev in events if ev.type != e.COMMAND_REJECTED))


def fold_batch(stored: Mapping[str, TaskState], events: Iterable[Envelope]) -> FoldResult:
    """Fold `events` (log order) onto the `stored` states; only advanced tasks are returned.

    An event that does not fold is reported and leaves its task where it was, so a gap
    in one task's versions never stalls the partition; later events of that task keep
    failing until the missing version arrives.
    """
    result = FoldResult()
    current: dict[str, TaskState] = {}
    for ev in events:
        if ev.type == e.COMMAND_REJECTED:
            continue  # archived; changes nothing the read model keeps
        tid = ev.task_id
        state = current.get(tid) or stored.get(tid)
        if state is not None and ev.version <= state.version:
            result.duplicates += 1
            continue
        try:
            new = evolve(state, ev, commands=False)  # the read model forgets them
        except Exception as exc:  # a bad event must not stall the partition
            result.errors.append(
                FoldError(tid, ev.version, state.version if state else None, ev.type, str(exc))
            )
            continue
        if new is not None:
            current[tid] = new
            result.transitions.append(Transition(state, ev, new))
    result.changed = current
    return result


def merge(
    stored: Mapping[str, TaskState], changed: Mapping[str, TaskState]
) -> dict[str, TaskState]:
    """`stored` with the `changed` states that are newer: what the upsert's guard
    (`WHERE tasks.version < EXCLUDED.version`) leaves in the table."""
    out = dict(stored)
    for task_id, state in changed.items():
        old = out.get(task_id)
        if old is None or old.version < state.version:
            out[task_id] = state
    return out
