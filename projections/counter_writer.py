"""The projector's Redis counter writer: applies each committed batch's change in order.

The projector hands over a batch's `CounterDelta` after its Postgres transaction
committed and goes on; this task applies the changes one by one. Redis never slows the
projection: while Redis is down or slow, the writer drops the waiting changes (Postgres
has them) and rebuilds the counters from Postgres once Redis answers again. It also
rebuilds at start (a change lost in a crash between the commit and Redis), whenever the
script reports a lost change or missing data (Redis restarted empty), and every
`counters_reconcile_seconds` as a last line of defence.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import asyncpg
from redis.asyncio import Redis
from redis.exceptions import RedisError

from projections import metrics as m
from projections.counters import CounterDelta
from projections.redis_counters import (
    CounterKeys,
    RebuildRaced,
    apply_delta,
    keys_for,
    rebuild_counters,
)
from taskstream.settings import Settings

log = logging.getLogger(__name__)

_REDIS_ERRORS = (RedisError, OSError, TimeoutError, RebuildRaced)


class CounterWriter:
    """Applies counter changes to Redis in commit order; rebuilds when they cannot be."""

    def __init__(
        self,
        settings: Settings,
        pool: asyncpg.Pool,
        redis: Redis,
        *,
        projection: str = "tasks",
        keys: CounterKeys | None = None,
    ) -> None:
        self._settings = settings
        self._pool = pool
        self._redis = redis
        self._projection = projection
        self.keys = keys or keys_for(settings.topic_prefix)
        self._queue: asyncio.Queue[CounterDelta] = asyncio.Queue()
        self._dirty = True  # nothing is trusted before the first rebuild
        self._task: asyncio.Task[None] | None = None
        self._next_reconcile = 0.0
        self.rebuilds = 0
        self.applied = 0
        self._idle = asyncio.Event()

    @property
    def needs_rebuild(self) -> bool:
        """True until the counters in Redis are known to match Postgres."""
        return self._dirty

    @property
    def waiting(self) -> int:
        """Changes queued for Redis."""
        return self._queue.qsize()

    def submit(self, delta: CounterDelta) -> None:
        """Queue one committed batch's change (never waits)."""
        if not delta.partitions:
            return
        if self._queue.qsize() >= self._settings.counters_queue_max:
            self._mark_dirty("too many changes waiting for Redis")
            return
        self._idle.clear()
        self._queue.put_nowait(delta)

    def start(self) -> None:
        """Start applying (the first thing done is a rebuild)."""
        self._task = asyncio.create_task(self._run(), name="counter-writer")

    async def stop(self) -> None:
        """Stop; changes not applied yet are covered by the next start's rebuild."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def wait_idle(self, timeout: float) -> bool:
        """True once every queued change is applied and no rebuild is due (tests, shutdown)."""
        try:
            async with asyncio.timeout(timeout):
                await self._idle.wait()
        except TimeoutError:
            return False
        return True

    def _mark_dirty(self, why: str) -> None:
        if not self._dirty:
            log.warning("redis counters need a rebuild", extra={"reason": why})
        self._dirty = True
        # Everything queued is committed in Postgres already: the rebuild includes it.
        while not self._queue.empty():
            self._queue.get_nowait()

    async def _run(self) -> None:
        while True:
            try:
                await self._loop()
            except asyncio.CancelledError:
                raise
            except Exception:  # the counters must outlive any surprise: rebuild, go on
                log.exception("counter writer failed; rebuilding")
                self._mark_dirty("writer failed")
                await asyncio.sleep(self._settings.counters_retry_seconds)

    async def _loop(self) -> None:
        every = self._settings.counters_reconcile_seconds
        self._next_reconcile = time.monotonic() + every if every else float("inf")
        while True:
            if time.monotonic() >= self._next_reconcile:
                self._dirty = True
                self._next_reconcile = time.monotonic() + every
            if self._dirty:
                await self._rebuild()
                continue
            if self._queue.empty():
                self._idle.set()
            wait = max(0.0, self._next_reconcile - time.monotonic())
            try:
                async with asyncio.timeout(min(wait, self._settings.counters_retry_seconds)):
                    delta = await self._queue.get()
            except TimeoutError:
                await self._check()
                continue
            await self._apply(delta)

    async def _check(self) -> None:
        """While idle: a Redis that restarted empty gets its counters back without a batch."""
        try:
            built = await self._redis.exists(self.keys.applied)
        except _REDIS_ERRORS as exc:
            self._mark_dirty(f"redis failed: {exc!r}")
            return
        if not built:
            self._mark_dirty("counters missing in redis")

    async def _rebuild(self) -> None:
        self._mark_dirty("rebuild due")
        try:
            await rebuild_counters(
                self._pool,
                self._redis,
                keys=self.keys,
                projection=self._projection,
                partitions=self._settings.partitions,
            )
        except (*_REDIS_ERRORS, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            m.COUNTER_FAILURES.labels("rebuild").inc()
            log.warning(
                "redis counters not rebuilt; trying again",
                extra={"error": repr(exc), "retry_in": self._settings.counters_retry_seconds},
            )
            await asyncio.sleep(self._settings.counters_retry_seconds)
            return
        self._dirty = False
        self.rebuilds += 1
        m.COUNTER_REBUILDS.inc()

    async def _apply(self, delta: CounterDelta) -> None:
        try:
            result = await apply_delta(self._redis, self.keys, delta)
        except _REDIS_ERRORS as exc:
            m.COUNTER_FAILURES.labels("apply").inc()
            self._mark_dirty(f"redis failed: {exc!r}")
            return
        m.COUNTER_CHANGES.labels(result).inc()
        if result in ("applied", "duplicate"):
            self.applied += result == "applied"
            return
        self._mark_dirty(f"change {result}")
