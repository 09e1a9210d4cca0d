"""`/v1/tasks/{id}/attempts | logs | state`: a task's attempts, log lines and time travel."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from api.deps import ReaderDep, ReadModelDep
from api.paging import INT32_MAX
from api.ports import TaskReader
from api.problems import FieldError, ProblemError, invalid, problem_responses
from api.schemas_history import AttemptList, LogList, TaskAsOf
from projections.timetravel import ACCEPTED_FORMS, as_of, envelope_of, parse_at, state_at
from taskstream.domain.errors import DecodeError

router = APIRouter(
    prefix="/v1/tasks", tags=["history"], responses=problem_responses(401, 403, 404, 422, 500)
)

TaskId = Annotated[str, Path(min_length=1, max_length=200, description="The task id.")]


def _not_found(task_id: str, tenant: str) -> ProblemError:
    return ProblemError(
        404,
        f"no task {task_id} in tenant {tenant}; a task submitted a moment ago may not be "
        "projected yet",
        slug="task-not-found",
        title="Task not found",
    )


async def _require_task(read_model: TaskReader, tenant: str, task_id: str) -> None:
    if await read_model.get_task(tenant, task_id) is None:
        raise _not_found(task_id, tenant)


@router.get("/{task_id}/attempts", response_model=AttemptList)
async def task_attempts(
    task_id: TaskId, principal: ReaderDep, read_model: ReadModelDep
) -> dict[str, Any]:
    """A task's attempts, first to last, with each one's outcome, error and traceback."""
    items = await read_model.task_attempts(principal.tenant, task_id)
    if not items:
        await _require_task(read_model, principal.tenant, task_id)
    return {"items": items}


@router.get("/{task_id}/logs", response_model=LogList)
async def task_logs(
    task_id: TaskId,
    principal: ReaderDep,
    read_model: ReadModelDep,
    attempt: Annotated[
        int | None, Query(ge=1, le=INT32_MAX, description="Only this attempt's lines.")
    ] = None,
    after_attempt: Annotated[
        int,
        Query(
            ge=0,
            le=INT32_MAX,
            description="Without `attempt`: lines after (after_attempt, after_seq).",
        ),
    ] = 0,
    after_seq: Annotated[
        int, Query(ge=0, le=INT32_MAX, description="Only lines after this seq.")
    ] = 0,
    limit: Annotated[int, Query(ge=1, le=10000, description="Lines at most.")] = 1000,
) -> dict[str, Any]:
    """A task's log lines in order of (attempt, seq); pass the last one seen to follow."""
    if after_seq and attempt is None and not after_attempt:
        raise invalid(
            FieldError(field="after_seq", message="needs `attempt` or `after_attempt` with it")
        )
    items = await read_model.task_logs(
        principal.tenant,
        task_id,
        attempt=attempt,
        after_attempt=after_attempt,
        after_seq=after_seq,
        limit=limit,
    )
    if not items:
        await _require_task(read_model, principal.tenant, task_id)
    return {"items": items}


@router.get("/{task_id}/state", response_model=TaskAsOf)
async def task_state_at(
    task_id: TaskId,
    principal: ReaderDep,
    read_model: ReadModelDep,
    at: Annotated[
        str,
        Query(
            max_length=100,
            description=f"The point in the task's history: {ACCEPTED_FORMS}.",
            examples=["3", "2026-01-31T09:00:00Z"],
        ),
    ],
) -> dict[str, Any]:
    """The task as it was at a version or a moment, folded from its archived events."""
    try:
        point = parse_at(at)
    except ValueError as exc:
        raise invalid(FieldError(field="at", message=str(exc))) from None
    tenant = principal.tenant
    rows = await read_model.task_history(tenant, task_id, at=point)
    try:
        state = state_at((envelope_of(r) for r in rows), point)
    except (ValueError, DecodeError) as exc:
        raise ProblemError(
            500,
            f"the archived history of task {task_id} does not fold: {exc}",
            slug="history-unfoldable",
        ) from exc
    if state is not None:
        return as_of(state)
    first = await read_model.task_history(tenant, task_id, at=1)
    created = next((r for r in first if r["version"] == 1), None)
    if created is None:
        raise _not_found(task_id, tenant)
    raise ProblemError(
        404,
        f"task {task_id} did not exist yet at {at}: it was submitted at "
        f"{created['occurred_at']} (version 1)",
        slug="task-not-yet",
        title="Task did not exist yet",
        created_at=str(created["occurred_at"]),
    )
