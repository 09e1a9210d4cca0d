"""`/v1/queues/{queue}/…`: pause, resume and limit a queue of the caller's tenant.

Commands go to the commands topic keyed by the queue's aggregate id
(`que_<tenant>:<queue>`); the scheduler validates them again in the queue's `decide`, so
a producer writing straight to the topic gets the same rules. A queue needs no creation:
every queue runs with no limit until told otherwise. Answers 202 once the command is
in the log; the scheduler applies it within a tick (see docs/queues.md).
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path
from pydantic import BaseModel, ConfigDict, Field

from api.append import append_commands
from api.deps import CommandsDep, MetricsDep, WriterDep
from api.problems import problem_responses
from api.routers.tasks import CorrelationId
from api.schemas import Accepted
from taskstream.domain import queue_model as q
from taskstream.domain.commands import QUEUE_PATTERN
from taskstream.producer import make_command, new_id

log = logging.getLogger(__name__)

router = APIRouter(
    prefix="/v1/queues", tags=["queues"], responses=problem_responses(401, 403, 422, 500)
)

QueueName = Annotated[
    str,
    Path(
        pattern=QUEUE_PATTERN,
        description="The queue: 1 to 64 of letters, digits, `_`, `.` and `-`.",
    ),
]


class QueueActionRequest(BaseModel):
    """Why a queue is paused or resumed."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field("", max_length=1000)


class QueueLimitRequest(BaseModel):
    """The queue's new concurrency limit; null clears it."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"limit": 4, "reason": "rate limit"}]}
    )

    limit: int | None = Field(
        ...,
        ge=1,
        le=q.MAX_LIMIT,
        description="Attempts in flight over all scheduler partitions, at most; null: no limit "
        "beyond the live workers' capacity.",
    )
    reason: str = Field("", max_length=1000)


async def _append(
    type_: str,
    queue: str,
    payload: dict[str, Any],
    tenant: str,
    commands: Any,
    metrics: Any,
    correlation_id: str | None,
) -> Accepted:
    aggregate = q.queue_id(tenant, queue)
    command = make_command(
        type_,
        aggregate,
        payload,
        tenant=tenant,
        command_id=new_id(),
        correlation_id=correlation_id,
    )
    await append_commands([command], commands, metrics)
    log.info(type_, extra={"queue": queue, "tenant": tenant})
    return Accepted(
        id=aggregate,
        command_id=command.event_id,
        links={"events": f"/v1/tasks/{aggregate}/events"},
    )


_ACTION: dict[str, Any] = {
    "status_code": 202,
    "response_model": Accepted,
    "responses": problem_responses(503),
}
ActionBody = Annotated[QueueActionRequest | None, Body()]


@router.post("/{queue}/pause", **_ACTION)
async def pause_queue(
    queue: QueueName,
    principal: WriterDep,
    commands: CommandsDep,
    metrics: MetricsDep,
    body: ActionBody = None,
    correlation_id: CorrelationId = None,
) -> Accepted:
    """Dispatch nothing new of the queue; running attempts finish, delays keep counting."""
    payload = {"reason": body.reason if body else ""}
    return await _append(
        q.PAUSE_QUEUE, queue, payload, principal.tenant, commands, metrics, correlation_id
    )


@router.post("/{queue}/resume", **_ACTION)
async def resume_queue(
    queue: QueueName,
    principal: WriterDep,
    commands: CommandsDep,
    metrics: MetricsDep,
    body: ActionBody = None,
    correlation_id: CorrelationId = None,
) -> Accepted:
    """Dispatch the queue's waiting tasks again, at once, in priority order."""
    payload = {"reason": body.reason if body else ""}
    return await _append(
        q.RESUME_QUEUE, queue, payload, principal.tenant, commands, metrics, correlation_id
    )


@router.put("/{queue}/limit", **_ACTION)
async def set_queue_limit(
    queue: QueueName,
    body: QueueLimitRequest,
    principal: WriterDep,
    commands: CommandsDep,
    metrics: MetricsDep,
    correlation_id: CorrelationId = None,
) -> Accepted:
    """Cap the queue's attempts in flight (null clears the cap)."""
    payload = {"limit": body.limit, "reason": body.reason}
    return await _append(
        q.SET_QUEUE_LIMIT, queue, payload, principal.tenant, commands, metrics, correlation_id
    )


@router.delete("/{queue}/limit", **_ACTION)
async def clear_queue_limit(
    queue: QueueName,
    principal: WriterDep,
    commands: CommandsDep,
    metrics: MetricsDep,
    correlation_id: CorrelationId = None,
) -> Accepted:
    """Remove the queue's concurrency limit."""
    payload = {"limit": None, "reason": ""}
    return await _append(
        q.SET_QUEUE_LIMIT, queue, payload, principal.tenant, commands, metrics, correlation_id
    )
