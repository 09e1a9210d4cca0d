"""The queue aggregate: `decide` for its commands, `evolve` for its events.

Pure like the task machine. A queue exists from its first command (no create step: every
queue is running with no limit until told otherwise). A command that changes nothing
(pause a paused queue, set the limit it has) still decides its event: the event records
the command id, so a replay of that command after a crash (its offset not committed)
is a duplicate, and cannot undo a later command that did change something.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from taskstream.domain import events as e
from taskstream.domain import queue_model as q
from taskstream.domain.emit import next_event, reject
from taskstream.domain.envelope import Envelope
from taskstream.domain.queue_model import QueueState


def decide(state: QueueState | None, cmd: Envelope, now: datetime) -> list[Envelope]:
    """Events that a queue command causes at `now`."""
    if state is not None and cmd.event_id in state.seen_commands:
        return []  # a duplicate command
    try:
        tenant, queue = q.parse_queue_id(cmd.task_id)
    except ValueError as exc:
        return reject(state, cmd, str(exc), now)
    if tenant != cmd.tenant:
        return reject(state, cmd, f"queue id names tenant {tenant!r}, not {cmd.tenant!r}", now)
    model = q.QUEUE_PAYLOADS.get(cmd.type)
    if model is None:
        return reject(state, cmd, f"command {cmd.type} is not accepted by a queue", now)
    try:
        body = model.model_validate(cmd.payload)
    except ValidationError as exc:
        return reject(state, cmd, f"invalid command: {exc}".replace("\n", " ")[:1000], now)
    payload: dict[str, Any] = {"queue": queue, "reason": body.reason, "at": now.isoformat()}
    if isinstance(body, q.PauseQueue):
        return [next_event(state, cmd, q.QUEUE_PAUSED, payload, now)]
    if isinstance(body, q.ResumeQueue):
        return [next_event(state, cmd, q.QUEUE_RESUMED, payload, now)]
    assert isinstance(body, q.SetQueueLimit)
    payload.update(limit=body.limit, previous=state.limit if state else None)
    return [next_event(state, cmd, q.QUEUE_LIMIT_SET, payload, now)]


def evolve(state: QueueState | None, event: Envelope) -> QueueState | None:
    """The queue after `event` (raises `ValueError` for an event that cannot apply)."""
    seen = (state.seen_commands if state else frozenset()) | (
        {event.causation_id} if event.causation_id else set()
    )
    if event.type == e.COMMAND_REJECTED:
        return replace(state, seen_commands=seen) if state else None
    if event.type not in q.QUEUE_EVENT_TYPES:
        raise ValueError(f"unknown queue event type {event.type!r}")
    expected = (state.version if state else 0) + 1
    if event.version != expected:
        raise ValueError(f"queue {event.task_id}: version {event.version} is not {expected}")
    if state is None:
        tenant, queue = q.parse_queue_id(event.task_id)
        state = QueueState(
            id=event.task_id,
            tenant=tenant,
            queue=queue,
            paused=False,
            limit=None,
            version=0,
            updated_at=event.occurred_at,
            correlation_id=event.correlation_id,
        )
    base = replace(state, version=event.version, updated_at=event.occurred_at, seen_commands=seen)
    if event.type == q.QUEUE_PAUSED:
        return replace(base, paused=True)
    if event.type == q.QUEUE_RESUMED:
        return replace(base, paused=False)
    return replace(base, limit=event.payload["limit"])
