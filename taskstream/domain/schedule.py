"""The schedule aggregate: `decide` for its commands, `fire` for its due times, `evolve`.

Pure like the task machine: the time and the jitter draw are arguments. A fire records
its due time and the id of the task it submits; that id is DERIVED from
(schedule id, due time), and so is the id of the `task.submit` command, so a fire
replayed after a crash names the same task and its submit is a duplicate the task's
`decide` ignores.

Misfires: a due time more than `grace` before `now` (the scheduler was down, or the
schedule was paused) is missed. `fire_once` fires one catch-up for the first missed
due time, with `missed` counting the others; `skip` records one `schedule.skipped`
with the count and fires nothing. Either way the next due time is the first after
`now`. `fire_all` fires every missed due time, each with its own task, oldest first
(fewer than `MISSED_LIMIT` of them; more are handled as `fire_once`). Resuming keeps
the pending due time, so what a pause missed follows the policy.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from taskstream.domain import commands as c
from taskstream.domain import events as e
from taskstream.domain import schedule_model as s
from taskstream.domain.cron import CronError, missed, next_fire, validate
from taskstream.domain.emit import next_event, reject
from taskstream.domain.envelope import Envelope
from taskstream.domain.schedule_model import ScheduleState

# Namespace of the ids a fire derives: its task's and its submit command's.
_FIRE_NS = uuid.UUID("9b0e7c0a-52c4-4f3e-8f0e-3f1f6c7a2d10")
DEFAULT_GRACE = timedelta(seconds=1)
MISSED_LIMIT = 1000


def fire_task_id(schedule_id: str, due_at: datetime) -> str:
    """The id of the task a schedule submits for `due_at`."""
    return str(uuid.uuid5(_FIRE_NS, f"task:{schedule_id}:{due_at.isoformat()}"))


def fire_command_id(schedule_id: str, due_at: datetime) -> str:
    """The id of the `task.submit` command of that fire."""
    return str(uuid.uuid5(_FIRE_NS, f"submit:{schedule_id}:{due_at.isoformat()}"))


def _ts(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def decide(state: ScheduleState | None, cmd: Envelope, now: datetime) -> list[Envelope]:
    """Events that a schedule command causes at `now`."""
    if state is not None and cmd.event_id in state.seen_commands:
        return []  # a duplicate command
    if not s.is_schedule(cmd.task_id):
        return reject(state, cmd, f"schedule ids start with {s.SCHEDULE_PREFIX!r}", now)
    if cmd.type not in s.SCHEDULE_COMMANDS:
        return reject(state, cmd, f"command {cmd.type} is not accepted by a schedule", now)
    if cmd.type == s.CREATE_SCHEDULE:
        if state is not None:
            return reject(state, cmd, "schedule already exists", now)
        try:
            body = s.CreateSchedule.model_validate(cmd.payload)
            validate(body.cron, body.timezone)
        except (ValidationError, CronError) as exc:
            return reject(None, cmd, f"invalid command: {exc}".replace("\n", " ")[:1000], now)
        payload = body.model_dump(mode="json")
        payload["template"] = body.template.model_dump(mode="json", exclude={"run_at"})
        payload["next_due_at"] = next_fire(body.cron, body.timezone, now).isoformat()
        return [next_event(None, cmd, s.SCHEDULE_CREATED, payload, now)]
    if state is None:
        return reject(None, cmd, "unknown schedule", now)
    if state.deleted:
        return reject(state, cmd, "schedule is deleted", now)
    try:
        s.ScheduleAction.model_validate(cmd.payload)
    except ValidationError as exc:
        return reject(state, cmd, f"invalid command: {exc}".replace("\n", " ")[:1000], now)
    type_ = {
        s.PAUSE_SCHEDULE: s.SCHEDULE_PAUSED,
        s.RESUME_SCHEDULE: s.SCHEDULE_RESUMED,
        s.DELETE_SCHEDULE: s.SCHEDULE_DELETED,
    }[cmd.type]
    if (type_ == s.SCHEDULE_PAUSED and state.paused) or (
        type_ == s.SCHEDULE_RESUMED and not state.paused
    ):
        return []  # already so: nothing happens, nothing to record
    return [next_event(state, cmd, type_, {"at": now.isoformat()}, now)]


def fire(
    state: ScheduleState,
    now: datetime,
    draw: float,
    *,
    grace: timedelta = DEFAULT_GRACE,
) -> list[Envelope]:
    """The events of a due time that came (`draw` ∈ [0, 1) places the jitter)."""
    due = state.next_due_at
    if not state.active or due is None or due > now:
        return []  # paused, deleted, or not yet: a timer that no longer applies
    trigger = Envelope(
        event_id=f"fire:{state.id}:{due.isoformat()}",
        type=s.FIRE_SCHEDULE,
        task_id=state.id,
        occurred_at=now,
        tenant=state.tenant,
    )
    late = now - due > grace
    if late and state.misfire == "fire_all":
        # Each missed due time fires on its own, oldest first, as if on time, unless so
        # many were missed that walking them would flood the log: then as `fire_once`.
        late = missed(state.cron, state.timezone, due, now, limit=MISSED_LIMIT) >= MISSED_LIMIT
    # On time, the next due time follows this one (it may be due already, and fires on
    # the next tick); late, every due time up to `now` is covered by this decision.
    following = next_fire(state.cron, state.timezone, now if late else due)
    count = missed(state.cron, state.timezone, due, now, limit=MISSED_LIMIT) if late else 1
    if late and state.misfire == "skip":
        payload: dict[str, Any] = {
            "missed": count,
            "first_missed_at": due.isoformat(),
            "next_due_at": following.isoformat(),
        }
        return [next_event(state, trigger, s.SCHEDULE_SKIPPED, payload, now)]
    run_at = due + timedelta(seconds=state.jitter_seconds * draw) if state.jitter_seconds else None
    payload = {
        "due_at": due.isoformat(),
        "fired_at": now.isoformat(),
        "task_id": fire_task_id(state.id, due),
        "run_at": run_at.isoformat() if run_at else None,
        "missed": count - 1,
        "next_due_at": following.isoformat(),
    }
    return [next_event(state, trigger, s.SCHEDULE_FIRED, payload, now)]


def submit_for(state: ScheduleState, fired: Envelope) -> Envelope:
    """The `task.submit` command a `schedule.fired` event asks for (same every replay)."""
    p = fired.payload
    due = datetime.fromisoformat(p["due_at"])
    labels = dict(state.template.get("labels") or {})
    if len(labels) < 64:  # the domain's limit: a full template keeps its own labels
        labels.setdefault("schedule_id", state.id)
    body = {**state.template, "labels": labels, "run_at": p.get("run_at")}
    return Envelope(
        event_id=fire_command_id(state.id, due),
        type=c.SUBMIT_TASK,
        task_id=p["task_id"],
        occurred_at=fired.occurred_at,
        causation_id=fired.event_id,
        correlation_id=state.correlation_id or state.id,
        tenant=state.tenant,
        payload=body,
    )


def evolve(state: ScheduleState | None, event: Envelope) -> ScheduleState | None:
    """The schedule after `event` (raises `ValueError` for an event that cannot apply)."""
    p, at = event.payload, event.occurred_at
    seen = (state.seen_commands if state else frozenset()) | (
        {event.causation_id} if event.causation_id else set()
    )
    if event.type == e.COMMAND_REJECTED:
        return replace(state, seen_commands=seen) if state else None
    if event.type == s.SCHEDULE_CREATED:
        if state is not None:
            raise ValueError(f"schedule {event.task_id} created twice")
        return ScheduleState(
            id=event.task_id,
            tenant=event.tenant,
            cron=p["cron"],
            timezone=p["timezone"],
            template=dict(p["template"]),
            misfire=p["misfire"],
            jitter_seconds=float(p["jitter_seconds"]),
            paused=bool(p["paused"]),
            created_at=at,
            updated_at=at,
            version=event.version,
            next_due_at=_ts(p["next_due_at"]),
            correlation_id=event.correlation_id,
            seen_commands=seen,
        )
    if state is None:
        raise ValueError(f"{event.type} for unknown schedule {event.task_id}")
    if event.version != state.version + 1:
        raise ValueError(
            f"schedule {state.id}: version {event.version} does not follow {state.version}"
        )
    base = replace(state, version=event.version, updated_at=at, seen_commands=seen)
    t = event.type
    if t == s.SCHEDULE_PAUSED:
        return replace(base, paused=True)
    if t == s.SCHEDULE_RESUMED:
        return replace(base, paused=False)
    if t == s.SCHEDULE_DELETED:
        return replace(base, deleted=True, next_due_at=None)
    if t == s.SCHEDULE_FIRED:
        return replace(
            base,
            next_due_at=_ts(p["next_due_at"]),
            last_due_at=_ts(p["due_at"]),
            last_fired_at=_ts(p["fired_at"]),
            last_task_id=p["task_id"],
            last_run_at=_ts(p.get("run_at")),
            fired_count=state.fired_count + 1,
            skipped_count=state.skipped_count + int(p.get("missed") or 0),
        )
    if t == s.SCHEDULE_SKIPPED:
        return replace(
            base,
            next_due_at=_ts(p["next_due_at"]),
            skipped_count=state.skipped_count + int(p["missed"]),
        )
    raise ValueError(f"unknown schedule event type {t!r}")
