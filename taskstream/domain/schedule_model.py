"""Cron schedules as aggregates in the log: their commands, events and state.

A schedule travels on the same topics as tasks. Its id (prefixed `sch_`) rides in the
envelope's `task_id` field, so the schedule's commands, events and state share one
partition like a task's; the prefix is how the scheduler and the projector tell a
schedule's records from a task's.

Event payloads (timestamps ISO 8601 UTC):

- `schedule.created`: `cron`, `timezone`, `template` (SubmitTask fields), `misfire`,
  `jitter_seconds`, `paused`, `next_due_at`.
- `schedule.paused` / `schedule.resumed` / `schedule.deleted`: `at`.
- `schedule.fired`: `due_at`, `fired_at`, `task_id`, `run_at` (due + jitter, or null),
  `missed` (earlier due times this catch-up fire stands for), `next_due_at`.
- `schedule.skipped`: `missed`, `first_missed_at`, `next_due_at` (misfire `skip`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from taskstream.domain.commands import SubmitTask

SCHEDULE_PREFIX: Final = "sch_"

CREATE_SCHEDULE: Final = "schedule.create"
PAUSE_SCHEDULE: Final = "schedule.pause"
RESUME_SCHEDULE: Final = "schedule.resume"
DELETE_SCHEDULE: Final = "schedule.delete"
# Scheduler-internal trigger: a due time came; decided, never written to the log.
FIRE_SCHEDULE: Final = "schedule.fire"

SCHEDULE_CREATED: Final = "schedule.created"
SCHEDULE_PAUSED: Final = "schedule.paused"
SCHEDULE_RESUMED: Final = "schedule.resumed"
SCHEDULE_DELETED: Final = "schedule.deleted"
SCHEDULE_FIRED: Final = "schedule.fired"
SCHEDULE_SKIPPED: Final = "schedule.skipped"

SCHEDULE_EVENT_TYPES: Final = (
    SCHEDULE_CREATED,
    SCHEDULE_PAUSED,
    SCHEDULE_RESUMED,
    SCHEDULE_DELETED,
    SCHEDULE_FIRED,
    SCHEDULE_SKIPPED,
)
SCHEDULE_COMMANDS: Final = frozenset(
    {CREATE_SCHEDULE, PAUSE_SCHEDULE, RESUME_SCHEDULE, DELETE_SCHEDULE}
)

Misfire = Literal["skip", "fire_once", "fire_all"]


def is_schedule(aggregate_id: str) -> bool:
    """True if the id names a schedule rather than a task."""
    return aggregate_id.startswith(SCHEDULE_PREFIX)


class Template(SubmitTask):
    """The task each fire submits: SubmitTask without `run_at` (the fire sets it)."""

    @field_validator("run_at")
    @classmethod
    def _no_run_at(cls, value: datetime | None) -> datetime | None:
        if value is not None:
            raise ValueError("a schedule's task template cannot set run_at")
        return value


class CreateSchedule(BaseModel):
    """Create a schedule that submits `template` at every due time of `cron`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    cron: str = Field(min_length=1, max_length=200)
    timezone: str = Field("UTC", min_length=1, max_length=64)
    template: Template
    misfire: Misfire = "skip"
    jitter_seconds: float = Field(0.0, ge=0, le=3600)
    paused: bool = False


class ScheduleAction(BaseModel):
    """Pause, resume or delete: no fields beyond an optional reason."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    reason: str = Field("", max_length=1000)


@dataclass(frozen=True, slots=True)
class ScheduleState:
    """A schedule as its events have made it."""

    id: str
    tenant: str
    cron: str
    timezone: str
    template: dict[str, Any]
    misfire: str
    jitter_seconds: float
    paused: bool
    created_at: datetime
    updated_at: datetime
    version: int
    next_due_at: datetime | None
    deleted: bool = False
    last_due_at: datetime | None = None
    last_fired_at: datetime | None = None
    last_task_id: str | None = None
    last_run_at: datetime | None = None
    fired_count: int = 0
    skipped_count: int = 0
    correlation_id: str | None = None
    seen_commands: frozenset[str] = field(default_factory=frozenset)

    @property
    def active(self) -> bool:
        """True if the schedule fires when its time comes."""
        return not self.paused and not self.deleted and self.next_due_at is not None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form, as the read model and the API show it."""

        def iso(moment: datetime | None) -> str | None:
            return moment.isoformat() if moment else None

        return {
            "id": self.id,
            "tenant": self.tenant,
            "cron": self.cron,
            "timezone": self.timezone,
            "template": self.template,
            "misfire": self.misfire,
            "jitter_seconds": self.jitter_seconds,
            "paused": self.paused,
            "deleted": self.deleted,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "version": self.version,
            "next_due_at": iso(self.next_due_at),
            "last_due_at": iso(self.last_due_at),
            "last_fired_at": iso(self.last_fired_at),
            "last_task_id": self.last_task_id,
            "last_run_at": iso(self.last_run_at),
            "fired_count": self.fired_count,
            "skipped_count": self.skipped_count,
            "correlation_id": self.correlation_id,
        }
