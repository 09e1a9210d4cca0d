"""`/v1/tasks`: submit, read, list, history, cancel."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Path, Query, Response

from api.append import append_commands
from api.deps import (
    ClockDep,
    CommandsDep,
    MetricsDep,
    ReaderDep,
    ReadModelDep,
    SettingsDep,
    WriterDep,
)
from api.paging import INT32_MAX, task_page
from api.problems import ProblemError, problem_responses
from api.schemas import (
    Accepted,
    CancelTaskRequest,
    EventList,
    SubmitTaskRequest,
    TaskOut,
    TaskPage,
)
from api.submit import (
    check_payload_size,
    idempotency_key_of,
    submit_command,
    task_links,
    to_submit,
)
from taskstream.domain.commands import CANCEL_TASK, CancelTask
from taskstream.domain.state import Status
from taskstream.producer import make_command, new_id, submit_ids

log = logging.getLogger(__name__)

router = APIRouter(
    prefix="/v1/tasks", tags=["tasks"], responses=problem_responses(401, 403, 422, 500)
)

TaskId = Annotated[str, Path(min_length=1, max_length=200, description="The task id.")]
CorrelationId = Annotated[
    str | None,
    Header(alias="X-Correlation-ID", max_length=200, description="Ties related work together."),
]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=200,
        description="Retrying a submit with the same key names the same task: no duplicate "
        "(or the body's `idempotency_key`).",
    ),
]


def _not_found(task_id: str, tenant: str) -> ProblemError:
    return ProblemError(
        404,
        f"no task {task_id} in tenant {tenant}; a task submitted a moment ago may not be "
        "projected yet",
        slug="task-not-found",
        title="Task not found",
    )


@router.post(
    "",
    status_code=202,
    response_model=Accepted,
    responses=problem_responses(413, 503),
)
async def submit_task(
    body: SubmitTaskRequest,
    principal: WriterDep,
    settings: SettingsDep,
    commands: CommandsDep,
    clock: ClockDep,
    metrics: MetricsDep,
    response: Response,
    correlation_id: CorrelationId = None,
    idempotency_key: IdempotencyKey = None,
) -> Accepted:
    """Submit a task; answers 202 once the `task.submit` command is in the log."""
    check_payload_size(body.payload, settings.max_payload_bytes)
    submit = to_submit(body, settings, clock())
    key = idempotency_key_of(idempotency_key, body.idempotency_key)
    task_id, command_id = submit_ids(principal.tenant, key)
    command = submit_command(
        submit,
        task_id=task_id,
        command_id=command_id,
        tenant=principal.tenant,
        correlation_id=correlation_id,
    )
    await append_commands([command], commands, metrics)
    log.info(
        "task submitted",
        extra={
            "task_id": task_id,
            "command_id": command_id,
            "tenant": principal.tenant,
            "task_type": submit.type,
            "queue": submit.queue,
            "key_id": principal.key_id,
        },
    )
    response.headers["Location"] = f"/v1/tasks/{task_id}"
    return Accepted(id=task_id, command_id=command_id, links=task_links(task_id))


@router.get("", response_model=TaskPage)
async def list_tasks(
    principal: ReaderDep,
    settings: SettingsDep,
    read_model: ReadModelDep,
    status: Annotated[Status | None, Query(description="Only tasks in this status.")] = None,
    queue: Annotated[str | None, Query(max_length=64)] = None,
    type: Annotated[str | None, Query(max_length=200, description="Task type.")] = None,
    limit: Annotated[int | None, Query(ge=1, description="Page size.")] = None,
    cursor: Annotated[str | None, Query(max_length=1000, description="From `next_cursor`.")] = None,
) -> dict[str, Any]:
    """List tasks, newest first, with cursor pagination."""
    return await task_page(
        read_model,
        settings,
        principal.tenant,
        status=status.value if status else None,
        queue=queue,
        type=type,
        limit=limit,
        cursor=cursor,
    )


@router.get("/{task_id}", response_model=TaskOut, responses=problem_responses(404))
async def get_task(task_id: TaskId, principal: ReaderDep, read_model: ReadModelDep) -> Any:
    """One task: its current state and every attempt."""
    task = await read_model.get_task(principal.tenant, task_id)
    if task is None:
        raise _not_found(task_id, principal.tenant)
    return task


@router.get("/{task_id}/events", response_model=EventList, responses=problem_responses(404))
async def task_events(
    task_id: TaskId,
    principal: ReaderDep,
    read_model: ReadModelDep,
    after_version: Annotated[
        int, Query(ge=0, le=INT32_MAX, description="Only events after it.")
    ] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 1000,
) -> dict[str, Any]:
    """A task's events in order, rejected commands included."""
    items = await read_model.task_events(
        principal.tenant, task_id, after_version=after_version, limit=limit
    )
    # A submit the scheduler refused leaves a rejection but no task: show it, not a 404.
    if not items and await read_model.get_task(principal.tenant, task_id) is None:
        raise _not_found(task_id, principal.tenant)
    return {"items": items}


@router.post(
    "/{task_id}/cancel",
    status_code=202,
    response_model=Accepted,
    responses=problem_responses(404, 503),
)
async def cancel_task(
    task_id: TaskId,
    principal: WriterDep,
    read_model: ReadModelDep,
    commands: CommandsDep,
    metrics: MetricsDep,
    body: Annotated[CancelTaskRequest | None, Body()] = None,
    correlation_id: CorrelationId = None,
) -> Accepted:
    """Cancel a task: a waiting one at once, a running one once its worker stops it."""
    if await read_model.get_task(principal.tenant, task_id) is None:
        raise _not_found(task_id, principal.tenant)
    payload = CancelTask(reason=body.reason if body else "")
    command = make_command(
        CANCEL_TASK,
        task_id,
        payload.model_dump(mode="json"),
        tenant=principal.tenant,
        command_id=new_id(),
        correlation_id=correlation_id,
    )
    await append_commands([command], commands, metrics)
    log.info(
        "task cancel requested",
        extra={"task_id": task_id, "command_id": command.event_id, "tenant": principal.tenant},
    )
    return Accepted(id=task_id, command_id=command.event_id, links=task_links(task_id))
