"""`/v1/dlq`: dead tasks with every attempt's error, and redrive (`/v1/tasks/{id}/redrive` too).

Redrive appends `task.redrive` commands; the scheduler decides them, so a task that is
no longer dead when its command arrives is refused in its events, not here.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from api.deps import (
    AdminDep,
    CommandsDep,
    MetricsDep,
    ReaderDep,
    ReadModelDep,
    SettingsDep,
    WriterDep,
)
from api.paging import task_page
from api.ports import CommandLogUnavailable, CommandSink, TaskReader
from api.problems import FieldError, ProblemError, invalid, problem_responses
from api.schemas import Accepted, TaskPage
from taskstream.domain.commands import REDRIVE_TASK, RedriveTask
from taskstream.domain.envelope import Envelope
from taskstream.producer import make_command, new_id

log = logging.getLogger(__name__)

router = APIRouter(prefix="/v1/dlq", tags=["dlq"], responses=problem_responses(401, 403, 422, 500))
task_router = APIRouter(
    prefix="/v1/tasks", tags=["dlq"], responses=problem_responses(401, 403, 422, 500)
)

TaskIdStr = Annotated[str, Field(min_length=1, max_length=200)]


class RedriveRequest(BaseModel):
    """Which dead tasks to run again: `ids`, or a filter (`queue`, `type`, or `all`)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"ids": ["3b0b6a52-5f0e-4a53-9a0e-0c9d2f7c1a11"]}]},
    )

    ids: list[TaskIdStr] | None = Field(None, min_length=1, description="Tasks to redrive.")
    queue: str | None = Field(None, max_length=64, description="Dead tasks of this queue.")
    type: str | None = Field(None, max_length=200, description="Dead tasks of this type.")
    all: bool = Field(False, description="Every dead task (with no queue or type given).")
    reason: str = Field("", max_length=1000, description="Kept in each task's history.")


class RedriveOne(BaseModel):
    """Why a task is redriven."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field("", max_length=1000)


class RedriveAccepted(BaseModel):
    """Redrive commands in the log; the scheduler decides each (a task no longer dead is
    refused in its events)."""

    status: Literal["accepted"] = "accepted"
    ids: list[str] = Field(description="Tasks whose `task.redrive` command was appended.")
    not_found: list[str] = Field(default_factory=list, description="Ids unknown to the tenant.")
    unwritten: list[str] = Field(
        default_factory=list, description="Ids whose command the log did not take; retry them."
    )
    more: bool = Field(False, description="A filter matched more than one request may redrive.")


def _not_found(task_id: str, tenant: str) -> ProblemError:
    return ProblemError(
        404, f"no task {task_id} in tenant {tenant}", slug="task-not-found", title="Task not found"
    )


def _command(task_id: str, tenant: str, reason: str) -> Envelope:
    payload = RedriveTask(reason=reason).model_dump(mode="json")
    return make_command(REDRIVE_TASK, task_id, payload, tenant=tenant, command_id=new_id())


async def _append_each(commands: list[Envelope], sink: CommandSink) -> tuple[list[str], list[str]]:
    """Append all at once; (appended, unwritten) task ids, each failure logged."""
    outcomes = await asyncio.gather(*(sink.append(c) for c in commands), return_exceptions=True)
    done: list[str] = []
    failed: list[str] = []
    for command, outcome in zip(commands, outcomes, strict=True):
        if isinstance(outcome, CommandLogUnavailable):
            log.warning("redrive not appended", extra={"task_id": command.task_id})
            failed.append(command.task_id)
        elif isinstance(outcome, BaseException):
            raise outcome
        else:
            done.append(command.task_id)
    return done, failed


async def _dead_ids(
    reader: TaskReader, tenant: str, queue: str | None, type_: str | None, cap: int
) -> tuple[list[str], bool]:
    """Up to `cap` dead task ids matching the filter, and whether more match."""
    ids: list[str] = []
    cursor: str | None = None
    while True:
        page, cursor = await reader.list_tasks(
            tenant, status="dead", queue=queue, type=type_, limit=cap, cursor=cursor
        )
        ids += [t["id"] for t in page]
        if len(ids) >= cap or cursor is None:
            return ids[:cap], len(ids) > cap or cursor is not None


@router.get("", response_model=TaskPage)
async def list_dead(
    principal: ReaderDep,
    settings: SettingsDep,
    read_model: ReadModelDep,
    queue: Annotated[str | None, Query(max_length=64)] = None,
    type: Annotated[str | None, Query(max_length=200, description="Task type.")] = None,
    limit: Annotated[int | None, Query(ge=1, description="Page size.")] = None,
    cursor: Annotated[str | None, Query(max_length=1000, description="From `next_cursor`.")] = None,
) -> dict[str, Any]:
    """Dead tasks, newest first, each with every attempt's error and traceback."""
    return await task_page(
        read_model,
        settings,
        principal.tenant,
        status="dead",
        queue=queue,
        type=type,
        limit=limit,
        cursor=cursor,
    )


@router.post(
    "/redrive",
    status_code=202,
    response_model=RedriveAccepted,
    responses=problem_responses(503),
)
async def redrive_many(
    body: RedriveRequest,
    principal: AdminDep,
    settings: SettingsDep,
    read_model: ReadModelDep,
    commands: CommandsDep,
    metrics: MetricsDep,
) -> RedriveAccepted:
    """Redrive dead tasks by id, or those a filter matches (at most `page_size_max` a call);
    needs the `admin` scope."""
    cap = settings.page_size_max
    filtered = body.queue is not None or body.type is not None or body.all
    if body.ids is not None and filtered:
        raise invalid(FieldError(field="ids", message="give ids or a filter, not both"))
    if body.ids is None and not filtered:
        raise invalid(FieldError(field="ids", message="give ids, or queue/type, or all: true"))
    tenant, missing, more = principal.tenant, [], False
    if body.ids is not None:
        wanted = list(dict.fromkeys(body.ids))
        if len(wanted) > cap:
            raise invalid(FieldError(field="ids", message=f"at most {cap} ids", limit=cap))
        found = await asyncio.gather(*(read_model.get_task(tenant, i) for i in wanted))
        ids = [i for i, t in zip(wanted, found, strict=True) if t is not None]
        missing = [i for i, t in zip(wanted, found, strict=True) if t is None]
    else:
        ids, more = await _dead_ids(read_model, tenant, body.queue, body.type, cap)
    done, failed = await _append_each([_command(i, tenant, body.reason) for i in ids], commands)
    metrics.commands.labels(REDRIVE_TASK).inc(len(done))
    if ids and not done:
        raise ProblemError(
            503,
            "the command log is unavailable; no redrive was written, retry",
            slug="command-log-unavailable",
            title="Command log unavailable",
            headers={"Retry-After": "1"},
        )
    log.info("redrive requested", extra={"tenant": tenant, "count": len(done), "more": more})
    return RedriveAccepted(ids=done, not_found=missing, unwritten=failed, more=more)


@task_router.post(
    "/{task_id}/redrive",
    status_code=202,
    response_model=Accepted,
    responses=problem_responses(404, 503),
)
async def redrive_one(
    task_id: Annotated[str, Path(min_length=1, max_length=200, description="The task id.")],
    principal: WriterDep,
    read_model: ReadModelDep,
    commands: CommandsDep,
    metrics: MetricsDep,
    body: Annotated[RedriveOne | None, Body()] = None,
) -> Accepted:
    """Run a dead task again with a fresh budget; a task that is not dead is refused in its
    events."""
    if await read_model.get_task(principal.tenant, task_id) is None:
        raise _not_found(task_id, principal.tenant)
    command = _command(task_id, principal.tenant, body.reason if body else "")
    done, _ = await _append_each([command], commands)
    if not done:
        raise ProblemError(
            503,
            "the command log is unavailable; nothing was written, retry",
            slug="command-log-unavailable",
            title="Command log unavailable",
            headers={"Retry-After": "1"},
        )
    metrics.commands.labels(REDRIVE_TASK).inc()
    links = {"self": f"/v1/tasks/{task_id}", "events": f"/v1/tasks/{task_id}/events"}
    return Accepted(id=task_id, command_id=command.event_id, links=links)
