"""Request and response bodies of `/v1/schedules`."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.schemas import SubmitTaskRequest

_CREATE_EXAMPLE: dict[str, Any] = {
    "cron": "0 9 * * 1-5",
    "timezone": "Europe/Berlin",
    "template": {"type": "reports.daily", "queue": "reports", "payload": {"kind": "sales"}},
    "misfire": "fire_once",
    "jitter_seconds": 30,
}


class CreateScheduleRequest(BaseModel):
    """A cron schedule: `template` is submitted as a task at every due time."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_CREATE_EXAMPLE]})

    cron: str = Field(
        min_length=1,
        max_length=200,
        description="5 fields (minute hour day month weekday), or 6 with SECONDS LAST "
        "(`* * * * * *` is every second).",
    )
    timezone: str = Field("UTC", max_length=64, description="IANA zone the cron is read in.")
    template: SubmitTaskRequest = Field(
        description="The task to submit, as `POST /v1/tasks` takes it (no run_at or delay)."
    )
    misfire: Literal["skip", "fire_once", "fire_all"] = Field(
        "skip",
        description="Due times missed (downtime, pause): `skip` them, `fire_once` for all, "
        "or `fire_all`: each its own task (fewer than 1,000 missed; more: as `fire_once`).",
    )
    jitter_seconds: float = Field(
        0.0, ge=0, le=3600, description="Each task runs up to this long after its due time."
    )
    paused: bool = Field(False, description="Create it paused.")


class ScheduleActionRequest(BaseModel):
    """Why a schedule is paused, resumed or deleted."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field("", max_length=1000)


class Fire(BaseModel):
    """One fire: the due time and the task it submitted."""

    due_at: str
    fired_at: str
    task_id: str
    missed: int = Field(0, description="Earlier due times this catch-up fire stands for.")


class ScheduleOut(BaseModel):
    """A schedule as the read model holds it."""

    id: str
    tenant: str
    cron: str
    timezone: str
    template: dict[str, Any]
    misfire: str
    jitter_seconds: float
    paused: bool
    deleted: bool
    created_at: str
    updated_at: str
    version: int
    next_due_at: str | None
    last_due_at: str | None
    last_fired_at: str | None
    last_task_id: str | None
    fired_count: int
    skipped_count: int


class ScheduleDetail(ScheduleOut):
    """A schedule with its latest fires, newest first."""

    recent_fires: list[Fire]


class SchedulePage(BaseModel):
    """A page of schedules, newest first."""

    items: list[ScheduleOut]
    next_cursor: str | None = Field(None, description="Pass as `cursor` for the next page.")
