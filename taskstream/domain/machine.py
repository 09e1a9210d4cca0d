"""The task state machine: `decide` turns a command into events, `evolve` folds them.

Both are pure. `decide` receives the time and a random draw; anything nondeterministic
(due times, jittered backoff) is computed here and stored in the event, so folding the
events with `evolve` always reproduces the state.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from taskstream.domain import commands as c
from taskstream.domain import events as e
from taskstream.domain.backoff import compute_backoff
from taskstream.domain.defaults import Defaults, resolve
from taskstream.domain.emit import next_event, reject
from taskstream.domain.envelope import Envelope, event_id_for
from taskstream.domain.evolve import evolve, fold
from taskstream.domain.state import Status, TaskState

__all__ = ["RetryPolicy", "decide", "evolve", "fold", "reject", "start_time"]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Backoff defaults; a task's own settings override base and max."""

    base_seconds: float = 1.0
    factor: float = 2.0
    max_seconds: float = 300.0


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
    # Backoff grows with the attempts of this series: a redriven task starts short again.
    tries = state.attempts_in_series
    if retryable and tries < state.max_attempts:
        base = state.backoff_base_seconds
        ceiling = state.backoff_max_seconds
        delay = compute_backoff(
            tries,
            base=policy.base_seconds if base is None else base,
            factor=policy.factor,
            max_backoff=policy.max_seconds if ceiling is None else ceiling,
            draw=draw,
        )
        retry_at = now + timedelta(seconds=delay)
        return [
            next_event(
                state,
                cmd,
                retry_type,
                {**failure, "retry_at": retry_at.isoformat(), "backoff_seconds": delay},
                now,
            )
        ]
    reason = "non-retryable error" if not retryable else "attempts exhausted"
    return [next_event(state, cmd, e.TASK_DEAD_LETTERED, {**failure, "reason": reason}, now)]


def start_time(reported: datetime | None, dispatched_at: datetime, now: datetime) -> datetime:
    """When an attempt started: the worker's own time, clamped to [dispatch, decision].

    The worker's clock is an input like any other; the clamp keeps a skewed clock from
    placing a start before its dispatch or after the scheduler heard of it.
    """
    if reported is None:
        return now
    return min(max(reported, dispatched_at), now)


def decide(
    state: TaskState | None,
    cmd: Envelope,
    now: datetime,
    *,
    policy: RetryPolicy = RetryPolicy(),
    draw: float = 0.5,
    defaults: Defaults = Defaults(),
) -> list[Envelope]:
    """Events that command `cmd` causes on `state` at time `now` (`draw` ∈ [0, 1));
    `defaults` fill the fields a submit omits."""
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
        payload, sources = resolve(body.model_dump(mode="json"), body.type, defaults)
        payload["status"] = (Status.SCHEDULED if scheduled else Status.PENDING).value
        payload["defaults"] = sources
        return [next_event(None, cmd, e.TASK_SUBMITTED, payload, now)]

    if state is None:
        return reject(None, cmd, "unknown task", now)
    if isinstance(body, c.RedriveTask):
        return _redrive(state, cmd, body, now)
    if state.terminal and isinstance(body, c.FireTimer | c.DispatchTask):
        return []  # a timer or dispatch that no longer applies
    if state.terminal:
        return reject(state, cmd, f"task is {state.status.value}", now)

    if isinstance(body, c.CancelTask):
        return _cancel(state, cmd, body, now)

    if isinstance(body, c.DispatchTask):
        if state.status is not Status.PENDING or state.dispatch is not None:
            return []
        payload = {
            "attempt": len(state.attempts) + 1,
            "dispatch_id": body.dispatch_id,
            "dispatched_at": now.isoformat(),
        }
        return [next_event(state, cmd, e.TASK_DISPATCHED, payload, now)]

    if isinstance(body, c.FireTimer):
        return _fire_timer(state, cmd, body, now, policy, draw)

    if isinstance(body, c.StartAttempt):
        d = state.dispatch
        if state.status is not Status.PENDING or d is None:
            return reject(state, cmd, f"task is {state.status.value}, not dispatched", now)
        if d.attempt != body.attempt:
            return reject(state, cmd, "stale dispatch", now)
        # A start from an earlier hand-over of this same attempt (dispatched again because
        # its start was late) is as good as one from the latest: the attempt has started
        # nowhere yet, and whichever start comes second is refused.
        started = start_time(body.started_at, d.dispatched_at, now)
        payload = {
            "attempt": body.attempt,
            "worker": body.worker,
            "started_at": started.isoformat(),
        }
        return [next_event(state, cmd, e.ATTEMPT_STARTED, payload, now)]

    if isinstance(body, c.HeartbeatAttempt):
        return []  # liveness only: the scheduler extends the lease, nothing to record

    if isinstance(body, c.SucceedAttempt | c.FailAttempt | c.CancelAttempt):
        return _report(state, cmd, body, now, policy, draw)

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
        run_at = state.run_at
        if state.status is not Status.SCHEDULED or run_at is None:
            return []
        if run_at - timedelta(milliseconds=body.lead_ms) > now:
            return []
        # Fired ahead of its time: the start waits for it on the worker.
        ahead = {"not_before": run_at.isoformat()} if run_at > now else {}
        return [next_event(state, cmd, e.TASK_READY, ahead, now)]
    if body.kind == "dispatch":
        d = state.dispatch
        if state.status is Status.PENDING and d is not None and d.attempt == body.attempt:
            payload = {
                "attempt": d.attempt,
                "dispatch_id": event_id_for(state.id, state.version + 1, "redispatch"),
                "dispatched_at": now.isoformat(),
            }
            return [next_event(state, cmd, e.TASK_DISPATCHED, payload, now)]
        return []
    running = state.current_attempt
    if state.status is not Status.RUNNING or running is None or running.number != body.attempt:
        return []
    reason = "lease expired" if body.kind == "lease" else "attempt timed out"
    if state.cancel_requested:
        # The worker never said it stopped (killed mid-cancel, say): the cancel still wins.
        details = {"error": reason, "cause": body.kind}
        return [_ended_by_cancel(state, cmd, now, "timed_out", details)]
    failure = {
        "attempt": running.number,
        "worker": running.worker,
        "error": reason,
        "traceback": "",
        "finished_at": now.isoformat(),
        "cause": body.kind,
    }
    return _retry_or_dead(state, cmd, now, policy, draw, failure, True, e.ATTEMPT_TIMED_OUT)


def _cancel(state: TaskState, cmd: Envelope, body: c.CancelTask, now: datetime) -> list[Envelope]:
    running = state.current_attempt
    if state.status is Status.RUNNING and running is not None:
        if state.cancel_requested:
            return reject(state, cmd, "cancel already requested; the attempt is stopping", now)
        payload = {
            "reason": body.reason,
            "attempt": running.number,
            "worker": running.worker,
            "requested_at": now.isoformat(),
        }
        return [next_event(state, cmd, e.TASK_CANCEL_REQUESTED, payload, now)]
    # Scheduled, pending, or dispatched but not started: nothing runs, so it ends now.
    payload = {"reason": body.reason, "cancelled_at": now.isoformat()}
    return [next_event(state, cmd, e.TASK_CANCELLED, payload, now)]


def _ended_by_cancel(
    state: TaskState, cmd: Envelope, now: datetime, outcome: str, details: dict[str, Any]
) -> Envelope:
    """`task.cancelled` for a running attempt that ended after a cancel request."""
    running = state.current_attempt
    assert running is not None  # only called while an attempt runs
    payload = {
        "reason": state.cancel_reason or "",
        "cancelled_at": now.isoformat(),
        "attempt": running.number,
        "worker": running.worker,
        "finished_at": now.isoformat(),
        "attempt_outcome": outcome,
        **details,
    }
    return next_event(state, cmd, e.TASK_CANCELLED, payload, now)


def _report(
    state: TaskState,
    cmd: Envelope,
    body: c.SucceedAttempt | c.FailAttempt | c.CancelAttempt,
    now: datetime,
    policy: RetryPolicy,
    draw: float,
) -> list[Envelope]:
    running = state.current_attempt
    if state.status is not Status.RUNNING or running is None:
        return reject(state, cmd, f"task is {state.status.value}, not running", now)
    if running.number != body.attempt:
        return reject(state, cmd, f"stale report for attempt {body.attempt}", now)
    if isinstance(body, c.CancelAttempt):
        if not state.cancel_requested:
            return reject(state, cmd, "no cancel was requested for this attempt", now)
        return [_ended_by_cancel(state, cmd, now, "cancelled", {})]
    if isinstance(body, c.SucceedAttempt):
        if state.cancel_requested:
            return [_ended_by_cancel(state, cmd, now, "succeeded", {})]
        payload = {
            "attempt": body.attempt,
            "worker": body.worker,
            "result": body.result,
            "finished_at": now.isoformat(),
        }
        return [next_event(state, cmd, e.TASK_SUCCEEDED, payload, now)]
    if state.cancel_requested:
        details = {"error": body.error, "traceback": body.traceback}
        return [_ended_by_cancel(state, cmd, now, "failed", details)]
    failure = {
        "attempt": body.attempt,
        "worker": body.worker,
        "error": body.error,
        "traceback": body.traceback,
        "finished_at": now.isoformat(),
    }
    return _retry_or_dead(state, cmd, now, policy, draw, failure, body.retryable, e.ATTEMPT_FAILED)


def _redrive(state: TaskState, cmd: Envelope, body: c.RedriveTask, now: datetime) -> list[Envelope]:
    if state.status is not Status.DEAD:
        why = f"task is {state.status.value}; only a dead task is redriven"
        return reject(state, cmd, why, now)
    payload = {
        "redrive": state.redrives + 1,
        "reason": body.reason,
        "attempt_base": len(state.attempts),
        "redriven_at": now.isoformat(),
    }
    return [next_event(state, cmd, e.TASK_REDRIVEN, payload, now)]
