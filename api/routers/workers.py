"""`/v1/workers`: the workers seen on the workers topic, with their capacity and attempts.

Workers serve every tenant of their queues, so every caller sees them all; the attempts
listed are only those of the caller's tenant's tasks.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from api.deps import AdaptersDep, ReaderDep
from api.problems import ProblemError, problem_responses
from api.queue_ports import WorkerReader
from api.queue_schemas import WorkerList

router = APIRouter(
    prefix="/v1/workers", tags=["workers"], responses=problem_responses(401, 403, 422, 500, 503)
)


def get_workers(adapters: AdaptersDep) -> WorkerReader:
    """The workers view (503 where none is wired)."""
    if adapters.workers is None:
        raise ProblemError(503, "workers are not available here", slug="unavailable")
    return adapters.workers


WorkersDep = Annotated[WorkerReader, Depends(get_workers)]


@router.get("", response_model=WorkerList)
async def list_workers(
    principal: ReaderDep,
    workers: WorkersDep,
    include_gone: Annotated[
        bool,
        Query(description="Also list workers that said goodbye or whose heartbeats lapsed."),
    ] = False,
) -> Any:
    """The live workers: queues, capacity, in-flight count, the caller's running attempts."""
    try:
        found = await workers.workers(principal.tenant, include_gone=include_gone)
    except TimeoutError as exc:
        raise ProblemError(
            503,
            "the workers topic is still being read since the API started; retry",
            slug="warming-up",
            headers={"Retry-After": "1"},
        ) from exc
    return {"workers": found, "heartbeat_timeout_seconds": workers.timeout_seconds}
