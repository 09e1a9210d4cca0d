"""`/v1/schedules`: create, list, read, pause, resume and delete cron schedules.

Commands go to the commands topic keyed by the schedule id (`sch_…`); the scheduler
validates them again in the schedule's `decide`, so a producer writing straight to the
topic gets the same rules.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query, Response

from api.append import append_commands
from api.deps import (
    AdaptersDep,
    ClockDep,
    CommandsDep,
    MetricsDep,
    ReaderDep,
    SettingsDep,
    WriterDep,
)
from api.paging import page
from api.ports import ScheduleReader
from api.problems import FieldError, ProblemError, invalid, problem_responses
from api.routers.tasks import CorrelationId, IdempotencyKey
from api.schedule_schemas import (
    CreateScheduleRequest,
    ScheduleActionRequest,
    ScheduleDetail,
    SchedulePage,
)
from api.schemas import Accepted
from api.submit import check_payload_size, to_submit
from taskstream.domain import schedule_model as s
from taskstream.domain.cron import CronError, validate
from taskstream.producer import make_command, new_id, submit_ids

log = logging.getLogger(__name__)

router = APIRouter(
    prefix="/v1/schedules", tags=["schedules"], responses=problem_responses(401, 403, 422, 500)
)

ScheduleId = Annotated[
    str, Path(min_length=5, max_length=200, pattern=r"^sch_", description="The schedule id.")
]


def get_schedules(adapters: AdaptersDep) -> ScheduleReader:
    """The schedules read model (503 where none is wired)."""
    if adapters.schedules is None:
        raise ProblemError(503, "schedules are not available here", slug="unavailable")
    return adapters.schedules


SchedulesDep = Annotated[ScheduleReader, Depends(get_schedules)]


def _links(schedule_id: str) -> dict[str, str]:
    return {"self": f"/v1/schedules/{schedule_id}", "events": f"/v1/tasks/{schedule_id}/events"}


def _not_found(schedule_id: str, tenant: str) -> ProblemError:
    return ProblemError(
        404,
        f"no schedule {schedule_id} in tenant {tenant}; one created a moment ago may not be "
        "projected yet",
        slug="schedule-not-found",
        title="Schedule not found",
    )


@router.post("", status_code=202, response_model=Accepted, responses=problem_responses(413, 503))
async def create_schedule(
    body: CreateScheduleRequest,
    principal: WriterDep,
    settings: SettingsDep,
    commands: CommandsDep,
    clock: ClockDep,
    metrics: MetricsDep,
    response: Response,
    correlation_id: CorrelationId = None,
    idempotency_key: IdempotencyKey = None,
) -> Accepted:
    """Create a schedule; answers 202 once the `schedule.create` command is in the log."""
    try:
        validate(body.cron, body.timezone)
    except CronError as exc:
        raise invalid(FieldError(field=exc.field, message=exc.message)) from exc
    for name in ("run_at", "delay_seconds"):
        if getattr(body.template, name) is not None:
            raise invalid(FieldError(field=f"template.{name}", message="is set by each fire"))
    check_payload_size(body.template.payload, settings.max_payload_bytes)
    # The same defaults and checks as POST /v1/tasks: what a fire submits is valid.
    template = to_submit(body.template, settings, clock()).model_dump(mode="json")
    template.pop("run_at", None)
    raw_id, command_id = submit_ids(principal.tenant, idempotency_key)
    schedule_id = s.SCHEDULE_PREFIX + raw_id.replace("-", "")
    payload = {**body.model_dump(mode="json", exclude={"template"}), "template": template}
    command = make_command(
        s.CREATE_SCHEDULE,
        schedule_id,
        payload,
        tenant=principal.tenant,
        command_id=command_id,
        correlation_id=correlation_id,
    )
    await append_commands([command], commands, metrics)
    log.info(
        "schedule created",
        extra={"schedule_id": schedule_id, "tenant": principal.tenant, "cron": body.cron},
    )
    response.headers["Location"] = f"/v1/schedules/{schedule_id}"
    return Accepted(id=schedule_id, command_id=command_id, links=_links(schedule_id))


@router.get("", response_model=SchedulePage)
async def list_schedules(
    principal: ReaderDep,
    settings: SettingsDep,
    schedules: SchedulesDep,
    include_deleted: Annotated[bool, Query(description="List deleted ones too.")] = False,
    limit: Annotated[int | None, Query(ge=1, description="Page size.")] = None,
    cursor: Annotated[str | None, Query(max_length=1000, description="From `next_cursor`.")] = None,
) -> dict[str, Any]:
    """List schedules, newest first, with cursor pagination."""

    async def fetch(size: int) -> tuple[list[dict[str, Any]], str | None]:
        return await schedules.list_schedules(
            principal.tenant, include_deleted=include_deleted, limit=size, cursor=cursor
        )

    return await page(settings, limit, fetch)


@router.get("/{schedule_id}", response_model=ScheduleDetail, responses=problem_responses(404))
async def get_schedule(
    schedule_id: ScheduleId,
    principal: ReaderDep,
    schedules: SchedulesDep,
    fires: Annotated[int, Query(ge=0, le=1000, description="How many recent fires.")] = 20,
) -> Any:
    """One schedule and its recent fires (the tasks it submitted), newest first."""
    found = await schedules.get_schedule(principal.tenant, schedule_id, fires=fires)
    if found is None:
        raise _not_found(schedule_id, principal.tenant)
    return found


async def _action(
    type_: str,
    schedule_id: str,
    tenant: str,
    body: ScheduleActionRequest | None,
    schedules: ScheduleReader,
    commands: Any,
    metrics: Any,
    correlation_id: str | None,
) -> Accepted:
    if await schedules.get_schedule(tenant, schedule_id, fires=0) is None:
        raise _not_found(schedule_id, tenant)
    command = make_command(
        type_,
        schedule_id,
        {"reason": body.reason if body else ""},
        tenant=tenant,
        command_id=new_id(),
        correlation_id=correlation_id,
    )
    await append_commands([command], commands, metrics)
    log.info(type_, extra={"schedule_id": schedule_id, "tenant": tenant})
    return Accepted(id=schedule_id, command_id=command.event_id, links=_links(schedule_id))


_ACTION = {
    "status_code": 202,
    "response_model": Accepted,
    "responses": problem_responses(404, 503),
}
ActionBody = Annotated[ScheduleActionRequest | None, Body()]


@router.post("/{schedule_id}/pause", **_ACTION)  # type: ignore[arg-type]
async def pause_schedule(
    schedule_id: ScheduleId,
    principal: WriterDep,
    schedules: SchedulesDep,
    commands: CommandsDep,
    metrics: MetricsDep,
    body: ActionBody = None,
    correlation_id: CorrelationId = None,
) -> Accepted:
    """Stop firing; due times passed while paused follow the misfire policy on resume."""
    return await _action(
        s.PAUSE_SCHEDULE,
        schedule_id,
        principal.tenant,
        body,
        schedules,
        commands,
        metrics,
        correlation_id,
    )


@router.post("/{schedule_id}/resume", **_ACTION)  # type: ignore[arg-type]
async def resume_schedule(
    schedule_id: ScheduleId,
    principal: WriterDep,
    schedules: SchedulesDep,
    commands: CommandsDep,
    metrics: MetricsDep,
    body: ActionBody = None,
    correlation_id: CorrelationId = None,
) -> Accepted:
    """Fire again from the pending due time (`skip` or `fire_once` what was missed)."""
    return await _action(
        s.RESUME_SCHEDULE,
        schedule_id,
        principal.tenant,
        body,
        schedules,
        commands,
        metrics,
        correlation_id,
    )


@router.delete("/{schedule_id}", **_ACTION)  # type: ignore[arg-type]
async def delete_schedule(
    schedule_id: ScheduleId,
    principal: WriterDep,
    schedules: SchedulesDep,
    commands: CommandsDep,
    metrics: MetricsDep,
    correlation_id: CorrelationId = None,
) -> Accepted:
    """Delete for good: no more fires; tasks already submitted are untouched."""
    return await _action(
        s.DELETE_SCHEDULE,
        schedule_id,
        principal.tenant,
        None,
        schedules,
        commands,
        metrics,
        correlation_id,
    )
