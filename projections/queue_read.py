"""The queues read side: counts from Redis (Postgres when Redis does not answer), settings,
and per-queue statistics over a time range.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import asyncpg
from redis.asyncio import Redis
from redis.exceptions import RedisError

from projections.counters import COUNTED_STATUSES, COUNTERS, field_name, parse_field
from projections.queue_stats import COUNT_FIELDS, HIST_BINS
from projections.redis_counters import CounterKeys, read_counts

log = logging.getLogger(__name__)

_QUEUES = """
SELECT queue FROM queues WHERE tenant = $1
UNION SELECT queue FROM queue_settings WHERE tenant = $1
"""
_SETTINGS = "SELECT queue, paused, concurrency_limit FROM queue_settings WHERE tenant = $1"
_COUNTS = """
SELECT queue, priority, status, count(*) AS n FROM tasks
WHERE tenant = $1 AND status = ANY($2::text[]) GROUP BY queue, priority, status
"""
_STATS = f"""
SELECT date_bin($4::interval, bucket, 'epoch'::timestamptz) AS start,
       {", ".join(f"sum({c})::bigint AS {c}" for c in COUNT_FIELDS)},
       sum(run_sum)::float8 AS run_sum, sum(run_count)::bigint AS run_count,
       sum(wait_sum)::float8 AS wait_sum, sum(wait_count)::bigint AS wait_count
FROM queue_stats
WHERE tenant = $1 AND queue = $2 AND bucket >= $3 AND bucket < $5
GROUP BY 1 ORDER BY 1
"""
_HISTS = """
SELECT date_bin($4::interval, s.bucket, 'epoch'::timestamptz) AS start, h.kind, h.i,
       sum(h.n)::bigint AS n
FROM queue_stats s
CROSS JOIN LATERAL (
    SELECT 'run' AS kind, i, n FROM unnest(s.run_hist) WITH ORDINALITY AS u(n, i)
    UNION ALL
    SELECT 'wait', i, n FROM unnest(s.wait_hist) WITH ORDINALITY AS u(n, i)
) h
WHERE s.tenant = $1 AND s.queue = $2 AND s.bucket >= $3 AND s.bucket < $5 AND h.n > 0
GROUP BY 1, 2, 3
"""

Counts = dict[str, int]  # `queue|priority|counter` -> n


@dataclass(slots=True)
class QueueView:
    """One queue: its settings and its counters, total and by priority."""

    queue: str
    paused: bool = False
    concurrency_limit: int | None = None
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTERS, 0))
    by_priority: dict[int, dict[str, int]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (priorities highest first)."""
        return {
            "queue": self.queue,
            "paused": self.paused,
            "concurrency_limit": self.concurrency_limit,
            "counts": dict(self.counts),
            "by_priority": [
                {"priority": p, **self.by_priority[p]}
                for p in sorted(self.by_priority, reverse=True)
            ],
        }


def build_views(
    queues: set[str], settings: dict[str, tuple[bool, int | None]], counts: Counts
) -> dict[str, QueueView]:
    """Views of `queues` (and any queue with counts), with their settings and counts."""
    views: dict[str, QueueView] = {}
    for name, n in counts.items():
        queue, priority, counter = parse_field(name)
        view = views.setdefault(queue, QueueView(queue))
        view.counts[counter] += n
        view.by_priority.setdefault(priority, dict.fromkeys(COUNTERS, 0))[counter] += n
    for queue in queues | settings.keys():
        views.setdefault(queue, QueueView(queue))
    for queue, (paused, limit) in settings.items():
        views[queue].paused, views[queue].concurrency_limit = paused, limit
    return views


class QueueReadModel:
    """Queues of a tenant with their counts; `source` says where the counts came from."""

    def __init__(
        self, pool: asyncpg.Pool, redis: Redis | None, keys: CounterKeys, *, timeout: float
    ) -> None:
        self._pool = pool
        self._redis = redis
        self._keys = keys
        self._timeout = timeout
        # After Redis failed, it is not asked again for a moment: no request waits a timeout.
        self._skip_until = 0.0

    async def queues(self, tenant: str) -> tuple[dict[str, QueueView], str]:
        """Every queue of `tenant` (keyed by name) and the counts' source."""
        counts, source = await self._counts(tenant)
        async with self._pool.acquire() as conn:
            names = {r["queue"] for r in await conn.fetch(_QUEUES, tenant)}
            rows = await conn.fetch(_SETTINGS, tenant)
        settings = {r["queue"]: (r["paused"], r["concurrency_limit"]) for r in rows}
        return build_views(names, settings, counts), source

    async def _counts(self, tenant: str) -> tuple[Counts, str]:
        if self._redis is not None and time.monotonic() >= self._skip_until:
            try:
                async with asyncio.timeout(self._timeout):
                    found = await read_counts(self._redis, self._keys, tenant)
                if found is not None:
                    return found, "redis"
                log.info("redis counters not built yet; counting in postgres")
            except (RedisError, OSError, TimeoutError) as exc:
                self._skip_until = time.monotonic() + 1.0
                log.warning(
                    "redis counters unavailable; counting in postgres", extra={"error": repr(exc)}
                )
        rows = await self._pool.fetch(_COUNTS, tenant, list(COUNTED_STATUSES))
        counts = {field_name(r["queue"], r["priority"], r["status"]): r["n"] for r in rows}
        return counts, "postgres"

    async def stats(
        self, tenant: str, queue: str, since: datetime, until: datetime, bucket: timedelta
    ) -> tuple[list[dict[str, Any]], dict[datetime, dict[str, list[int]]]]:
        """Summed statistics per bucket in [since, until), and their histograms."""
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(_STATS, tenant, queue, since, bucket, until)
            hist_rows = await conn.fetch(_HISTS, tenant, queue, since, bucket, until)
        hists: dict[datetime, dict[str, list[int]]] = {}
        for r in hist_rows:
            per = hists.setdefault(r["start"], {"run": [0] * HIST_BINS, "wait": [0] * HIST_BINS})
            i = r["i"] - 1
            if 0 <= i < HIST_BINS:
                per[r["kind"]][i] += r["n"]
        return [dict(r) for r in rows], hists
