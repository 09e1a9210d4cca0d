"""`POST /v1/tasks:batch`: submit many tasks in one request, all or none."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Header

from api.append import append_commands
from api.deps import ClockDep, CommandsDep, MetricsDep, SettingsDep, WriterDep
from api.problems import problem_responses
from api.schemas import Accepted, BatchAccepted, BatchSubmitRequest
from api.submit import batch_commands, task_links

log = logging.getLogger(__name__)

router = APIRouter(tags=["tasks"], responses=problem_responses(401, 403, 422, 500))

CorrelationId = Annotated[
    str | None,
    Header(alias="X-Correlation-ID", max_length=200, description="Ties related work together."),
]


@router.post(
    "/v1/tasks:batch",
    status_code=202,
    response_model=BatchAccepted,
    responses=problem_responses(413, 503),
)
async def submit_batch(
    body: BatchSubmitRequest,
    principal: WriterDep,
    settings: SettingsDep,
    commands: CommandsDep,
    clock: ClockDep,
    metrics: MetricsDep,
    correlation_id: CorrelationId = None,
) -> BatchAccepted:
    """Submit several tasks; answers 202 once every `task.submit` command is in the log."""
    batch = batch_commands(
        body.tasks, settings, clock(), tenant=principal.tenant, correlation_id=correlation_id
    )
    await append_commands(batch, commands, metrics)
    log.info(
        "task batch submitted",
        extra={"tasks": len(batch), "tenant": principal.tenant, "key_id": principal.key_id},
    )
    return BatchAccepted(
        items=[
            Accepted(id=c.task_id, command_id=c.event_id, links=task_links(c.task_id))
            for c in batch
        ]
    )
