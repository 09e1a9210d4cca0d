"""The task state machine: `decide` turns a command into events, `evolve` folds them.

Both are pure. `decide` receives the time and a random draw; anything nondeterministic
(due times, jittered backoff) is computed here and stored in the event, so folding the
events with `evolve` always reproduces the state.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from taskstream.domain import commands as c
from taskstream.domain import events as e
from taskstream.domain.backoff import compute_backoff
from taskstream.domain.envelope import Envelope, event_id_for, rejection_id_for
from taskstream.domain.state import Attempt, Dispatch, Status, TaskState


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Backoff defaults; a task's own settings override base and max."""

    base_seconds: float = 1.0
    factor: float = 2.0
    max_seconds: float = 300.0


def _ts(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _event(
    state: TaskState | None, cmd: Envelope, type_: str, payload: dict[str, Any], now: datetime
) -> Envelope:
    version = (state.version if state else 0) + 1
    return Envelope(
        event_id=event_id_for(cmd.task_id, version, type_),
        type=type_,
        task_id=cmd.task_id,
        version=version,
        occurred_at=now,
        causation_id=cmd.event_id,
        correlation_id=cmd.correlation_id or (state.correlation_id if state else None),
        tenant=state.tenant if state else cmd.tenant,
        payload=payload,
    )


def reject(state: TaskState | None, cmd: Envelope, reason: str, now: datetime) -> list[Envelope]:
    """The `command.rejected` event that records why `cmd` was refused."""
    return [
        Envelope(
            event_id=rejection_id_for(cmd.event_id),
            type=e.COMMAND_REJECTED,
            task_id=cmd.task_id,
            version=state.version if state else 0,
            occurred_at=now,
            causation_id=cmd.event_id,
            correlation_id=cmd.correlation_id,
            tenant=state.tenant if state else cmd.tenant,
            payload={"command_id": cmd.event_id, "command_type": cmd.type, "reason": reason},
        )
    ]


def _retry_or_dead(
    state: TaskState,
    cmd: Envelope,
    now: datetime,
    policy: RetryPolicy,
    draw: float,
    failure: dict[str, Any],
    retryable: bool,
    retry_type: str,
) -> list[Envelope]:
    attempt = failure["attempt"]
    if retryable and attempt < state.max_attempts:
        base = (
            state.backoff_base_seconds
            if state.backoff_base_seconds is not None
            else policy.base_seconds
        )
        ceiling = (
            state.backoff_max_seconds
            if state.backoff_max_seconds is not None
            else policy.max_seconds
        )
        delay = compute_backoff(
            attempt, base=base, factor=policy.factor, max_backoff=ceiling, draw=draw
        )
        retry_at = now + timedelta(seconds=delay)
        return [
            _event(
                state,
                cmd,
                retry_type,
                {**failure, "retry_at": retry_at.isoformat(), "backoff_seconds": delay},
                now,
            )
        ]
    reason = "non-retryable error" if not retryable else "attempts exhausted"
    return [_event(state, cmd, e.TASK_DEAD_LETTERED, {**failure, "reason": reason}, now)]


def decide(
    state: TaskState | None,
    cmd: Envelope,
    now: datetime,
    *,
    policy: RetryPolicy = RetryPolicy(),
    draw: float = 0.5,
) -> list[Envelope]:
    """Events that command `cmd` causes on `state` at time `now` (`draw` ∈ [0, 1))."""
    if state is not None and cmd.event_id in state.seen_commands:
        return []  # a duplicate command: its effect is already in the log
    try:
        body = c.parse_payload(cmd.type, cmd.payload)
    except (ValidationError, ValueError) as exc:
        return reject(state, cmd, f"invalid command: {exc}".replace("\n", " ")[:1000], now)

    if isinstance(body, c.SubmitTask):
        if state is not None:
            return reject(state, cmd, "task already exists", now)
        scheduled = body.run_at is not None and body.run_at > now
        payload = body.model_dump(mode="json")
        payload["status"] = (Status.SCHEDULED if scheduled else Status.PENDING).value
        return [_event(None, cmd, e.TASK_SUBMITTED, payload, now)]

    if state is None:
        return reject(None, cmd, "unknown task", now)
    if state.terminal and isinstance(body, c.FireTimer | c.DispatchTask):
        return []  # a timer or dispatch that no longer applies
    if state.terminal:
        return reject(state, cmd, f"task is {state.status.value}", now)

    if isinstance(body, c.CancelTask):
        if state.status is Status.RUNNING:
            return reject(state, cmd, "task is running", now)
        return [
            _event(
                state,
                cmd,
                e.TASK_CANCELLED,
                {"reason": body.reason, "cancelled_at": now.isoformat()},
                now,
            )
        ]

    if isinstance(body, c.DispatchTask):
        if state.status is not Status.PENDING or state.dispatch is not None:
            return []
        payload = {
            "attempt": len(state.attempts) + 1,
            "dispatch_id": body.dispatch_id,
            "dispatched_at": now.isoformat(),
        }
        return [_event(state, cmd, e.TASK_DISPATCHED, payload, now)]

    if isinstance(body, c.FireTimer):
        return _fire_timer(state, cmd, body, now, policy, draw)

    if isinstance(body, c.StartAttempt):
        d = state.dispatch
        if state.status is not Status.PENDING or d is None:
            return reject(state, cmd, f"task is {state.status.value}, not dispatched", now)
        if d.dispatch_id != body.dispatch_id or d.attempt != body.attempt:
            return reject(state, cmd, "stale dispatch", now)
        payload = {"attempt": body.attempt, "worker": body.worker, "started_at": now.isoformat()}
        return [_event(state, cmd, e.ATTEMPT_STARTED, payload, now)]

    if isinstance(body, c.HeartbeatAttempt):
        return []  # liveness only: the scheduler extends the lease, nothing to record

    if isinstance(body, c.SucceedAttempt | c.FailAttempt):
        running = state.current_attempt
        if state.status is not Status.RUNNING or running is None:
            return reject(state, cmd, f"task is {state.status.value}, not running", now)
        if running.number != body.attempt:
            return reject(state, cmd, f"stale report for attempt {body.attempt}", now)
        if isinstance(body, c.SucceedAttempt):
            payload = {
                "attempt": body.attempt,
                "worker": body.worker,
                "result": body.result,
                "finished_at": now.isoformat(),
            }
            return [_event(state, cmd, e.TASK_SUCCEEDED, payload, now)]
        failure = {
            "attempt": body.attempt,
            "worker": body.worker,
            "error": body.error,
            "traceback": body.traceback,
            "finished_at": now.isoformat(),
        }
        return _retry_or_dead(
            state, cmd, now, policy, draw, failure, body.retryable, e.ATTEMPT_FAILED
        )

    return reject(state, cmd, f"command {cmd.type} is not accepted here", now)


def _fire_timer(
    state: TaskState,
    cmd: Envelope,
    body: c.FireTimer,
    now: datetime,
    policy: RetryPolicy,
    draw: float,
) -> list[Envelope]:
    # Timers are checked against the state: a timer that no longer applies does nothing.
    if body.kind == "run_at":
        if state.status is Status.SCHEDULED and state.run_at is not None and state.run_at <= now:
            return [_event(state, cmd, e.TASK_READY, {}, now)]
        return []
    if body.kind == "dispatch":
        d = state.dispatch
        if state.status is Status.PENDING and d is not None and d.attempt == body.attempt:
            payload = {
                "attempt": d.attempt,
                "dispatch_id": event_id_for(state.id, state.version + 1, "redispatch"),
                "dispatched_at": now.isoformat(),
            }
            return [_event(state, cmd, e.TASK_DISPATCHED, payload, now)]
        return []
    running = state.current_attempt
    if state.status is not Status.RUNNING or running is None or running.number != body.attempt:
        return []
    reason = "lease expired" if body.kind == "lease" else "attempt timed out"
    failure = {
        "attempt": running.number,
        "worker": running.worker,
        "error": reason,
        "traceback": "",
        "finished_at": now.isoformat(),
        "cause": body.kind,
    }
    return _retry_or_dead(state, cmd, now, policy, draw, failure, True, e.ATTEMPT_TIMED_OUT)


def _finish(state: TaskState, number: int, p: dict[str, Any], outcome: str) -> tuple[Attempt, ...]:
    finished = _ts(p.get("finished_at"))
    return tuple(
        replace(
            a,
            finished_at=finished,
            error=p.get("error"),
            traceback=p.get("traceback") or None,
            outcome=outcome,
        )
        if a.number == number
        else a
        for a in state.attempts
    )


def evolve(state: TaskState | None, event: Envelope) -> TaskState | None:
    """The state after `event` (raises `ValueError` for an event that cannot apply)."""
    p = event.payload
    at = event.occurred_at
    seen = (state.seen_commands if state else frozenset()) | (
        {event.causation_id} if event.causation_id else set()
    )
    if event.type == e.COMMAND_REJECTED:
        return replace(state, seen_commands=seen) if state else None
    if event.type == e.TASK_SUBMITTED:
        if state is not None:
            raise ValueError(f"task {event.task_id} submitted twice")
        return TaskState(
            id=event.task_id,
            tenant=event.tenant,
            queue=p["queue"],
            type=p["type"],
            payload=p.get("payload"),
            priority=p["priority"],
            max_attempts=p["max_attempts"],
            timeout_seconds=p["timeout_seconds"],
            labels=dict(p.get("labels") or {}),
            created_at=at,
            updated_at=at,
            status=Status(p["status"]),
            version=event.version,
            run_at=_ts(p.get("run_at")),
            backoff_base_seconds=p.get("backoff_base_seconds"),
            backoff_max_seconds=p.get("backoff_max_seconds"),
            correlation_id=event.correlation_id,
            seen_commands=seen,
        )
    if state is None:
        raise ValueError(f"{event.type} for unknown task {event.task_id}")
    if event.version != state.version + 1:
        raise ValueError(
            f"task {state.id}: version {event.version} does not follow {state.version}"
        )
    base = replace(state, version=event.version, updated_at=at, seen_commands=seen)
    t = event.type
    if t == e.TASK_READY:
        return replace(base, status=Status.PENDING, run_at=None)
    if t == e.TASK_DISPATCHED:
        dispatch = Dispatch(
            p["attempt"], p["dispatch_id"], datetime.fromisoformat(p["dispatched_at"])
        )
        return replace(base, dispatch=dispatch)
    if t == e.ATTEMPT_STARTED:
        attempt = Attempt(p["attempt"], p["worker"], datetime.fromisoformat(p["started_at"]))
        return replace(
            base, status=Status.RUNNING, dispatch=None, attempts=(*state.attempts, attempt)
        )
    if t in (e.ATTEMPT_FAILED, e.ATTEMPT_TIMED_OUT):
        outcome = "failed" if t == e.ATTEMPT_FAILED else "timed_out"
        return replace(
            base,
            status=Status.SCHEDULED,
            run_at=_ts(p["retry_at"]),
            attempts=_finish(state, p["attempt"], p, outcome),
        )
    if t == e.TASK_SUCCEEDED:
        return replace(
            base,
            status=Status.SUCCEEDED,
            result=p.get("result"),
            attempts=_finish(state, p["attempt"], p, "succeeded"),
        )
    if t == e.TASK_DEAD_LETTERED:
        outcome = "timed_out" if p.get("cause") in ("lease", "timeout") else "failed"
        return replace(
            base,
            status=Status.DEAD,
            dispatch=None,
            attempts=_finish(state, p["attempt"], p, outcome),
        )
    if t == e.TASK_CANCELLED:
        return replace(base, status=Status.CANCELLED, dispatch=None, run_at=None)
    raise ValueError(f"unknown event type {t!r}")


def fold(events: list[Envelope], state: TaskState | None = None) -> TaskState | None:
    """The state after all `events`, in order."""
    for event in events:
        state = evolve(state, event)
    return state
