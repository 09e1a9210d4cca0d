"""`create_app`: the FastAPI app, with its adapters built in the lifespan (or given)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from fastapi import FastAPI

import taskstream
from api import db_errors, problems
from api.metrics import ApiMetrics, MetricsMiddleware
from api.middleware import BodyLimit, ErrorGuard
from api.ports import Adapters
from api.routers import (
    batch,
    contract,
    dlq,
    health,
    history,
    keys,
    queue_control,
    schedules,
    search,
    stream,
    tasks,
)
from api.routers.queues import router as queues_router
from api.routers.workers import router as workers_router
from api.tails.service import TailService
from taskstream.settings import Settings

log = logging.getLogger(__name__)

DESCRIPTION = """\
Submit tasks and follow them. Commands (`POST`) are answered once they are in the
command log; reads come from the read model, which follows the log by a moment.
Errors are RFC 9457 problem details (`application/problem+json`).
"""


async def _start(app: FastAPI, settings: Settings, stack: AsyncExitStack) -> Adapters | None:
    """Build the adapters, unless a stop is requested first (then None)."""
    from api.wiring import open_adapters  # asyncpg and aiokafka only when served

    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    # Called from a signal handler (see api.service): wake the loop safely.
    app.state.request_stop = lambda: loop.call_soon_threadsafe(stopping.set)
    startup = asyncio.ensure_future(stack.enter_async_context(open_adapters(settings)))
    stop = asyncio.ensure_future(stopping.wait())
    try:
        await asyncio.wait({startup, stop}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop.cancel()
    if startup.done():
        adapters: Adapters = startup.result()
        return adapters
    startup.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await startup
    log.warning("stopped while starting")
    return None


def create_app(settings: Settings, *, deps: Adapters | None = None) -> FastAPI:
    """The API app. With `deps`, use them as they are (tests); else build them at startup."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if deps is not None:
            try:
                yield
            finally:
                await app.state.tails.close()
            return
        async with AsyncExitStack() as stack:
            app.state.adapters = await _start(app, settings, stack)
            if app.state.adapters is not None:
                app.state.tails.warm()
                log.info(
                    "api started", extra={"host": settings.api_host, "port": settings.api_port}
                )
            try:
                yield
            finally:
                app.state.adapters = None
                await app.state.tails.close()
                log.info("api stopping")

    app = FastAPI(
        title="Taskstream",
        version=taskstream.__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.metrics = metrics = ApiMetrics()
    app.state.adapters = deps
    app.state.tails = TailService(settings)
    problems.install(app)
    db_errors.install(app)
    app.include_router(health.router)
    app.include_router(tasks.router)
    app.include_router(dlq.router)
    app.include_router(dlq.task_router)
    app.include_router(history.router)
    app.include_router(batch.router)
    app.include_router(contract.router)
    app.include_router(stream.router)
    app.include_router(schedules.router)
    app.include_router(queue_control.router)
    app.include_router(search.router)
    app.include_router(queues_router)
    app.include_router(workers_router)
    app.include_router(keys.router)
    # Added innermost first: metrics see every answer, the guard's 500s included.
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    app.add_middleware(ErrorGuard)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    return app
