"""Composition root of the projector process."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Coroutine
from typing import Any

from prometheus_client import start_http_server

from projections.config import ProjectorSettings
from projections.counter_writer import CounterWriter
from projections.log_projector import LogProjector
from projections.migrate import migrate
from projections.postgres import connect_pool
from projections.projector import Projector
from projections.redis_counters import connect_redis
from projections.search.service import open_search_loops
from taskstream.settings import Settings
from taskstream.topics import base_topic_names, ensure_topics

log = logging.getLogger(__name__)


def run(settings: Settings) -> None:
    """Run the projector until SIGTERM/SIGINT; the batch in progress is finished first."""
    asyncio.run(serve(settings))


async def serve(
    settings: Settings,
    stop: asyncio.Event | None = None,
    extra: ProjectorSettings | None = None,
) -> None:
    """The projector's life: Postgres, migrations, topics, then batches until `stop`."""
    extra = extra or ProjectorSettings()
    if stop is None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
    if extra.projector_metrics_port:
        start_http_server(extra.projector_metrics_port)
        log.info("metrics served", extra={"port": extra.projector_metrics_port})
    log.info("connecting to postgres")
    pool = await connect_pool(
        settings.postgres_dsn, wait_seconds=extra.projector_connect_seconds, max_size=4
    )
    try:
        applied = await migrate(pool)
        log.info("schema ready", extra={"migrations_applied": applied})
        await ensure_topics(settings, base_topic_names(settings))
        redis = connect_redis(settings, timeout=settings.counters_redis_timeout_seconds)
        counters = CounterWriter(settings, pool, redis, projection=extra.projector_name)
        counters.start()  # rebuilds from Postgres first: a change lost in a crash is in it
        projector = Projector(settings, pool, name=extra.projector_name, counters=counters)
        lines = LogProjector(settings, pool)
        log.info("projector started", extra={"topics": [projector.topic, lines.topic]})
        search = await open_search_loops(settings, pool)
        try:
            await run_together([projector.run, lines.run, *(search.loops if search else [])], stop)
        finally:
            if search:
                await search.close()
            await counters.stop()
            await redis.aclose()
        log.info(
            "projector stopped",
            extra={
                "events_applied": projector.applied_events,
                "lines_applied": lines.applied_lines,
            },
        )
    finally:
        await pool.close()


async def run_together(
    loops: list[Callable[[asyncio.Event], Coroutine[Any, Any, None]]], stop: asyncio.Event
) -> None:
    """Run every loop until `stop`; one that fails stops the others, then its error is raised."""
    tasks = [asyncio.create_task(loop(stop)) for loop in loops]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    finally:
        stop.set()
        results = await asyncio.gather(*tasks, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
