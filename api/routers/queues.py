"""`/v1/queues`: the caller's queues with their counts and settings, and their statistics.

Counts come from the Redis counters the projector keeps; when Redis does not answer
within `TASKSTREAM_REDIS_TIMEOUT_SECONDS` (or its counters are being rebuilt) they are
counted in Postgres, and the `Taskstream-Counts-Source` header says which it was.
Pause and resume live in `queue_control.py`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Response

from api.deps import AdaptersDep, ClockDep, ReaderDep, SettingsDep
from api.problems import FieldError, ProblemError, invalid, problem_responses
from api.queue_ports import QueueReader
from api.queue_schemas import COUNTS_SOURCE_HEADER, QueueDetail, QueueList, QueueStats
from projections.queue_read import QueueView
from projections.stats_summary import summarize
from taskstream.domain.commands import QUEUE_PATTERN

router = APIRouter(prefix="/v1/queues", tags=["queues"], responses=problem_responses(401, 403, 500))

BUCKETS = {"1m": 60, "5m": 300, "15m": 900, "1h": 3600, "6h": 21600, "1d": 86400}
DEFAULT_RANGE = timedelta(hours=1)

QueueName = Annotated[str, Path(pattern=QUEUE_PATTERN, description="The queue name.")]

_SOURCE_HEADER = {
    COUNTS_SOURCE_HEADER: {
        "description": "`redis`, or `postgres` when Redis did not answer in time.",
        "schema": {"type": "string", "enum": ["redis", "postgres"]},
    }
}
_COUNTED = {200: {"headers": _SOURCE_HEADER}}


def get_queue_reads(adapters: AdaptersDep) -> QueueReader:
    """The queues read model (503 where none is wired)."""
    if adapters.queue_reads is None:
        raise ProblemError(503, "queue counts are not available here", slug="unavailable")
    return adapters.queue_reads


QueuesDep = Annotated[QueueReader, Depends(get_queue_reads)]


def _summary(view: QueueView) -> dict[str, Any]:
    links = {"self": f"/v1/queues/{view.queue}", "stats": f"/v1/queues/{view.queue}/stats"}
    return {**view.as_dict(), "links": links}


def _not_found(queue: str, tenant: str) -> ProblemError:
    return ProblemError(
        404,
        f"no queue {queue} in tenant {tenant}: no task was submitted to it and it has no "
        "settings (a task submitted a moment ago may not be projected yet)",
        slug="queue-not-found",
        title="Queue not found",
    )


@router.get("", response_model=QueueList, responses=_COUNTED)  # type: ignore[arg-type]
async def list_queues(principal: ReaderDep, queues: QueuesDep, response: Response) -> Any:
    """Every queue of the caller's tenant, with counts by status and by priority."""
    views, source = await queues.queues(principal.tenant)
    response.headers[COUNTS_SOURCE_HEADER] = source
    return {"queues": [_summary(views[q]) for q in sorted(views)], "counts_source": source}


@router.get(
    "/{queue}",
    response_model=QueueDetail,
    responses={**_COUNTED, **problem_responses(404, 422)},  # type: ignore[dict-item]
)
async def get_queue(
    queue: QueueName, principal: ReaderDep, queues: QueuesDep, response: Response
) -> Any:
    """One queue: its settings and counts by status and by priority."""
    views, source = await queues.queues(principal.tenant)
    if queue not in views:
        raise _not_found(queue, principal.tenant)
    response.headers[COUNTS_SOURCE_HEADER] = source
    return {**_summary(views[queue]), "counts_source": source}


@router.get("/{queue}/stats", response_model=QueueStats, responses=problem_responses(404, 422))
async def queue_stats(
    queue: QueueName,
    principal: ReaderDep,
    queues: QueuesDep,
    settings: SettingsDep,
    clock: ClockDep,
    since: Annotated[
        datetime | None, Query(description="Start (inclusive, ISO 8601); default until − 1 h.")
    ] = None,
    until: Annotated[
        datetime | None, Query(description="End (exclusive, ISO 8601); default now.")
    ] = None,
    bucket: Annotated[
        Literal["1m", "5m", "15m", "1h", "6h", "1d"], Query(description="Bucket width.")
    ] = "5m",
) -> Any:
    """Throughput, success and failure rates, run and wait times of a queue, per bucket."""
    for name, value in (("since", since), ("until", until)):
        if value is not None and value.tzinfo is None:
            raise invalid(FieldError(field=name, message="must include a UTC offset"))
    end = until or clock()
    try:
        start = since or end - DEFAULT_RANGE
    except OverflowError:
        raise invalid(
            FieldError(field="until", message="is too early for a default since")
        ) from None
    if start >= end:
        raise invalid(FieldError(field="since", message="must be before until"))
    width = BUCKETS[bucket]
    count = -(-int((end - start).total_seconds()) // width)
    cap = settings.stats_max_buckets
    if count > cap:
        raise invalid(
            FieldError(
                field="bucket",
                message=f"gives {count} buckets over since..until; must be ≤ {cap} "
                "(widen the bucket or narrow the range)",
                limit=cap,
            )
        )
    views, _ = await queues.queues(principal.tenant)
    if queue not in views:
        raise _not_found(queue, principal.tenant)
    rows, hists = await queues.stats(principal.tenant, queue, start, end, timedelta(seconds=width))
    summary = summarize(
        rows, hists, bucket_seconds=width, total_seconds=(end - start).total_seconds()
    )
    return {
        "queue": queue,
        "since": start,
        "until": end,
        "bucket": bucket,
        "bucket_seconds": width,
        **summary,
    }
