"""Turning a REST submission into a `task.submit` command: pure, the clock passed in."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any, TypeVar

import orjson
from pydantic import ValidationError

from api.problems import FieldError, ProblemError, field_errors, invalid
from api.schemas import SubmitTaskRequest
from taskstream.domain.commands import SUBMIT_TASK, SubmitTask
from taskstream.domain.envelope import Envelope
from taskstream.producer import make_command, new_id
from taskstream.settings import Settings

# Namespace of ids derived from an Idempotency-Key: a retried submit names the same task.
_IDEMPOTENCY_NS = uuid.UUID("0d5c4a8e-3f7e-4c1b-9b61-7a2f2f9e6c42")
_T = TypeVar("_T")


def payload_size(payload: Any) -> int:
    """Bytes of `payload` as compact JSON, the form it travels in."""
    return len(orjson.dumps(payload))


def check_payload_size(payload: Any, limit: int) -> None:
    """413 naming `payload` and the limit if the payload is too large."""
    size = payload_size(payload)
    if size > limit:
        raise ProblemError(
            413,
            f"payload is {size} bytes as JSON; the limit is {limit} bytes. Nothing was "
            "written: store large inputs elsewhere and pass a reference",
            slug="payload-too-large",
            title="Payload too large",
            errors=[
                FieldError(
                    field="payload", message=f"must be at most {limit} bytes as JSON", limit=limit
                )
            ],
        )


def to_submit(body: SubmitTaskRequest, settings: Settings, now: datetime) -> SubmitTask:
    """The domain payload for `body`: defaults from settings, a delay made a `run_at`."""
    if body.run_at is not None and body.delay_seconds is not None:
        raise invalid(FieldError(field="delay_seconds", message="cannot be combined with run_at"))
    run_at = body.run_at
    if body.delay_seconds is not None:
        run_at = now + timedelta(seconds=body.delay_seconds)
    fields: dict[str, Any] = {
        "queue": body.queue,
        "type": body.type,
        "payload": body.payload,
        "priority": _or(body.priority, settings.default_priority),
        "max_attempts": _or(body.max_attempts, settings.default_max_attempts),
        "timeout_seconds": _or(body.timeout_seconds, settings.default_timeout_seconds),
        "labels": body.labels,
        "run_at": run_at,
        "backoff_base_seconds": body.backoff_base_seconds,
        "backoff_max_seconds": body.backoff_max_seconds,
    }
    try:
        return SubmitTask.model_validate(fields)
    except ValidationError as exc:
        # The REST schema and the domain should agree; if they drift, the domain wins.
        raise invalid(*field_errors(exc.errors())) from exc


def _or(value: _T | None, default: _T) -> _T:
    return default if value is None else value


def ids_for(tenant: str, idempotency_key: str | None) -> tuple[str, str]:
    """(task id, command id): fresh, or derived from an Idempotency-Key so a retry repeats them."""
    if not idempotency_key:
        return new_id(), new_id()
    task_id = uuid.uuid5(_IDEMPOTENCY_NS, f"task\x00{tenant}\x00{idempotency_key}")
    command_id = uuid.uuid5(_IDEMPOTENCY_NS, f"submit\x00{tenant}\x00{idempotency_key}")
    return str(task_id), str(command_id)


def submit_command(
    submit: SubmitTask,
    *,
    task_id: str,
    command_id: str,
    tenant: str,
    correlation_id: str | None,
) -> Envelope:
    """The `task.submit` envelope."""
    return make_command(
        SUBMIT_TASK,
        task_id,
        submit.model_dump(mode="json"),
        tenant=tenant,
        command_id=command_id,
        correlation_id=correlation_id,
    )
