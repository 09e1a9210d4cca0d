"""Request and response bodies of the REST API (separate from the domain models).

Request limits repeat those of `taskstream.domain.commands.SubmitTask` so the OpenAPI
document shows them; the submit route still validates through `SubmitTask`, and a unit
test keeps the two in step.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from taskstream.domain.commands import QUEUE_PATTERN, PortablePayload, UtcDatetime
from taskstream.domain.state import Status

MAX_DELAY_SECONDS = 366 * 86400

_SUBMIT_EXAMPLE: dict[str, Any] = {
    "type": "emails.send",
    "payload": {"to": "ada@example.com", "template": "welcome"},
    "queue": "emails",
    "priority": 7,
    "max_attempts": 5,
    "labels": {"customer": "acme"},
    "delay_seconds": 30,
}
_TASK_EXAMPLE: dict[str, Any] = {
    "id": "3b0b6a52-5f0e-4a53-9a0e-0c9d2f7c1a11",
    "tenant": "default",
    "queue": "emails",
    "type": "emails.send",
    "payload": {"to": "ada@example.com", "template": "welcome"},
    "priority": 7,
    "max_attempts": 5,
    "timeout_seconds": 300.0,
    "labels": {"customer": "acme"},
    "status": "succeeded",
    "version": 5,
    "created_at": "2026-01-01T12:00:00+00:00",
    "updated_at": "2026-01-01T12:00:31.204000+00:00",
    "run_at": "2026-01-01T12:00:30+00:00",
    "attempts": [
        {
            "number": 1,
            "worker": "worker-1:4242",
            "started_at": "2026-01-01T12:00:30.101000+00:00",
            "finished_at": "2026-01-01T12:00:31.200000+00:00",
            "error": None,
            "traceback": None,
            "outcome": "succeeded",
        }
    ],
    "result": {"message_id": "m-1"},
    "correlation_id": "checkout-8812",
}


class SubmitTaskRequest(BaseModel):
    """A task to run now, at `run_at`, or after `delay_seconds`."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_SUBMIT_EXAMPLE]})

    type: str = Field(min_length=1, max_length=200, description="Handler name.")
    payload: PortablePayload = Field(None, description="Any JSON; its serialised size is limited.")
    queue: str | None = Field(
        None,
        pattern=QUEUE_PATTERN,
        description="Queue of the workers; omitted: the type's registered queue, else `default`.",
    )
    priority: int | None = Field(
        None,
        ge=0,
        le=9,
        description="0 (least) to 9 (most urgent); omitted: the type's default, else 5.",
    )
    max_attempts: int | None = Field(
        None, ge=1, le=100, description="Attempts before dead; omitted: the type's default, else 3."
    )
    timeout_seconds: float | None = Field(
        None,
        gt=0,
        le=7 * 86400,
        description="Limit of one attempt; omitted: the type's default, else the setting.",
    )
    labels: dict[str, str] = Field(default_factory=dict, max_length=64)
    run_at: UtcDatetime | None = Field(None, description="ISO 8601 with a UTC offset.")
    delay_seconds: float | None = Field(
        None, ge=0, le=MAX_DELAY_SECONDS, description="Run this long from now (not with run_at)."
    )
    backoff_base_seconds: float | None = Field(None, ge=0, le=86400)
    backoff_max_seconds: float | None = Field(None, ge=0, le=7 * 86400)
    idempotency_key: str | None = Field(
        None,
        min_length=1,
        max_length=200,
        description="Retrying with the same key names the same task: no duplicate. The "
        "`Idempotency-Key` header does the same (if both are sent, they must be equal).",
    )


class BatchSubmitRequest(BaseModel):
    """Several tasks, each as the body of `POST /v1/tasks`: all are accepted, or none."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "tasks": [
                        {**_SUBMIT_EXAMPLE, "idempotency_key": "welcome-ada"},
                        {"type": "reports.build", "payload": {"day": "2026-01-01"}},
                    ]
                }
            ]
        },
    )

    tasks: list[SubmitTaskRequest] = Field(
        min_length=1, description="At most `TASKSTREAM_BATCH_MAX_TASKS` (default 1000)."
    )


class CancelTaskRequest(BaseModel):
    """Why a task is cancelled."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"reason": "dup"}]})

    reason: str = Field("", max_length=1000)


class Accepted(BaseModel):
    """A command is in the log; the scheduler decides what follows."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "3b0b6a52-5f0e-4a53-9a0e-0c9d2f7c1a11",
                    "status": "accepted",
                    "command_id": "c2a4e0a4-0d7b-4c36-8d55-1f0f6f0e2b9d",
                    "links": {
                        "self": "/v1/tasks/3b0b6a52-5f0e-4a53-9a0e-0c9d2f7c1a11",
                        "events": "/v1/tasks/3b0b6a52-5f0e-4a53-9a0e-0c9d2f7c1a11/events",
                    },
                }
            ]
        }
    )

    id: str = Field(description="The task id.")
    status: Literal["accepted"] = "accepted"
    command_id: str = Field(description="Id of the appended command (the events' causation).")
    links: dict[str, str]


class BatchAccepted(BaseModel):
    """Every command of a batch is in the log: one item per task, in request order."""

    items: list[Accepted]


class AttemptOut(BaseModel):
    """One execution of a task."""

    number: int
    worker: str
    started_at: datetime
    finished_at: datetime | None = None
    error: str | None = None
    traceback: str | None = None
    outcome: str = Field(description="running, succeeded, failed, timed_out or cancelled.")


class TaskOut(BaseModel):
    """A task as the read model has it (it may lag the log by a moment)."""

    model_config = ConfigDict(json_schema_extra={"examples": [_TASK_EXAMPLE]})

    id: str
    tenant: str
    queue: str
    type: str
    payload: Any = None
    priority: int
    max_attempts: int
    timeout_seconds: float
    labels: dict[str, str] = Field(default_factory=dict)
    status: Status
    version: int
    created_at: datetime
    updated_at: datetime
    run_at: datetime | None = None
    attempts: list[AttemptOut] = Field(default_factory=list)
    result: Any = None
    correlation_id: str | None = None
    cancel_requested: bool = Field(
        False, description="A cancel was asked while it runs; it ends `cancelled` soon."
    )
    redrives: int = Field(0, description="Times it was redriven out of `dead`.")


class TaskPage(BaseModel):
    """A page of tasks, newest first."""

    items: list[TaskOut]
    next_cursor: str | None = Field(None, description="Pass as `cursor` for the next page.")


class EventOut(BaseModel):
    """One event of a task's history."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "event_id": "9a7c3f0e-71b4-5d1e-a3a3-54c8b2f8f0aa",
                    "type": "task.submitted",
                    "schema_version": 1,
                    "task_id": "3b0b6a52-5f0e-4a53-9a0e-0c9d2f7c1a11",
                    "version": 1,
                    "occurred_at": "2026-01-01T12:00:00+00:00",
                    "causation_id": "c2a4e0a4-0d7b-4c36-8d55-1f0f6f0e2b9d",
                    "correlation_id": "checkout-8812",
                    "tenant": "default",
                    "payload": {"status": "scheduled"},
                }
            ]
        },
    )

    event_id: str
    type: str
    schema_version: int = 1
    task_id: str
    version: int
    occurred_at: datetime
    causation_id: str | None = None
    correlation_id: str | None = None
    tenant: str = "default"
    payload: dict[str, Any] = Field(default_factory=dict)


class EventList(BaseModel):
    """A task's events in order."""

    items: list[EventOut]


class Health(BaseModel):
    """Liveness."""

    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    """Readiness, with the outcome of each check."""

    status: Literal["ready"] = "ready"
    checks: dict[str, str] = Field(examples=[{"postgres": "ok", "broker": "ok"}])
