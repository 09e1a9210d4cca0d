"""Turning a REST submission into a `task.submit` command: pure, the clock passed in."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import orjson
from pydantic import ValidationError

from api.problems import FieldError, ProblemError, field_errors, invalid
from api.schemas import SubmitTaskRequest
from taskstream.domain.commands import SUBMIT_TASK, SubmitTask
from taskstream.domain.envelope import Envelope
from taskstream.producer import make_command, new_ids, submit_ids
from taskstream.settings import Settings


def payload_size(payload: Any) -> int:
    """Bytes of `payload` as compact JSON, the form it travels in."""
    return len(orjson.dumps(payload))


def payload_error(payload: Any, limit: int, *, field: str = "payload") -> FieldError | None:
    """The error naming `field` and the limit if the payload is too large, else None."""
    try:
        size = payload_size(payload)
    except TypeError as exc:  # orjson: an integer beyond 64 bits, which no JSON reader keeps
        raise invalid(FieldError(field=field, message=f"is not portable JSON: {exc}")) from None
    if size <= limit:
        return None
    return FieldError(field=field, message=f"must be at most {limit} bytes as JSON", limit=limit)


def too_large(*errors: FieldError) -> ProblemError:
    """A 413 naming each payload over the limit."""
    return ProblemError(
        413,
        "; ".join(f"{e.field} {e.message}" for e in errors)
        + ". Nothing was written: store large inputs elsewhere and pass a reference",
        slug="payload-too-large",
        title="Payload too large",
        errors=errors,
    )


def check_payload_size(payload: Any, limit: int) -> None:
    """413 naming `payload` and the limit if the payload is too large."""
    error = payload_error(payload, limit)
    if error is not None:
        raise too_large(error)


def idempotency_key_of(header: str | None, body: str | None) -> str | None:
    """The submit's idempotency key: the header or the body field (422 if they differ)."""
    if header and body and header != body:
        raise invalid(
            FieldError(
                field="idempotency_key",
                message="differs from the Idempotency-Key header; send one or make them equal",
            )
        )
    return header or body


def task_links(task_id: str) -> dict[str, str]:
    """Links of an accepted task."""
    return {"self": f"/v1/tasks/{task_id}", "events": f"/v1/tasks/{task_id}/events"}


def to_submit(body: SubmitTaskRequest, settings: Settings, now: datetime) -> SubmitTask:
    """The domain payload for `body`, a delay made a `run_at`.

    Omitted fields stay null: the scheduler fills them from the task type's defaults,
    then the global ones (`taskstream/domain/defaults.py`)."""
    if body.run_at is not None and body.delay_seconds is not None:
        raise invalid(FieldError(field="delay_seconds", message="cannot be combined with run_at"))
    run_at = body.run_at
    if body.delay_seconds is not None:
        run_at = now + timedelta(seconds=body.delay_seconds)
    fields: dict[str, Any] = {
        "queue": body.queue,
        "type": body.type,
        "payload": body.payload,
        "priority": body.priority,
        "max_attempts": body.max_attempts,
        "timeout_seconds": body.timeout_seconds,
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


def batch_commands(
    items: list[SubmitTaskRequest],
    settings: Settings,
    now: datetime,
    *,
    tenant: str,
    correlation_id: str | None,
) -> list[Envelope]:
    """The `task.submit` commands of a batch, in request order.

    Every item is checked before any command exists: one problem names every bad item
    (`tasks[3].priority`), so a refused batch writes nothing.
    """
    limit = settings.batch_max_tasks
    if len(items) > limit:
        raise ProblemError(
            413,
            f"the batch has {len(items)} tasks; the limit is {limit}. Nothing was written: "
            "split it into several batches",
            slug="batch-too-large",
            title="Batch too large",
            errors=[
                FieldError(field="tasks", message=f"must have at most {limit} items", limit=limit)
            ],
        )
    bad: list[FieldError] = []
    oversized: list[FieldError] = []
    first_with_key: dict[str, int] = {}
    commands: list[Envelope] = []
    fresh = iter(new_ids(2 * len(items))).__next__
    for i, item in enumerate(items):
        where = f"tasks[{i}]"
        error = payload_error(item.payload, settings.max_payload_bytes, field=f"{where}.payload")
        if error is not None:
            oversized.append(error)
        try:
            submit = to_submit(item, settings, now)
        except ProblemError as exc:
            bad += [e.model_copy(update={"field": f"{where}.{e.field}"}) for e in exc.errors]
            continue
        key = item.idempotency_key
        if key is not None and first_with_key.setdefault(key, i) != i:
            bad.append(
                FieldError(
                    field=f"{where}.idempotency_key",
                    message=f"repeats the key of tasks[{first_with_key[key]}]; keys must differ",
                )
            )
        task_id, command_id = submit_ids(tenant, key, fresh=fresh)
        commands.append(
            submit_command(
                submit,
                task_id=task_id,
                command_id=command_id,
                tenant=tenant,
                correlation_id=correlation_id,
            )
        )
    if bad:
        raise invalid(*bad, *oversized)
    if oversized:
        raise too_large(*oversized)
    return commands
