"""`taskstream worker | scheduler | api | projector`: run one service in the foreground.

Each command imports its service only when it runs, so `--help` (and the rest of the CLI)
starts without Faust, aiokafka, FastAPI or asyncpg.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

import typer

from taskstream.cli.client import fail

if TYPE_CHECKING:
    from taskstream.settings import Settings


def _settings(service: str, **overrides: Any) -> Settings:
    from taskstream import fetch_idle
    from taskstream.gc_tuning import tune_gc
    from taskstream.logs import configure_logging
    from taskstream.settings import Settings

    settings = Settings()
    if overrides:
        settings = settings.model_copy(update=overrides)
    configure_logging(service, settings)
    tune_gc(settings)
    fetch_idle.install(settings)
    return settings


def _entry(module: str) -> Callable[..., Any]:
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        fail(f"cannot import {module}: {exc}")
    run: Callable[..., Any] = mod.run
    return run


def _run(module: str, *args: Any, **kwargs: Any) -> None:
    result = _entry(module)(*args, **kwargs)
    # A service may expose a blocking `run` or a coroutine function; both are fine.
    if inspect.iscoroutine(result):
        asyncio.run(result)


def worker(
    tasks: Annotated[
        list[str] | None,
        typer.Option("--tasks", "-t", help="Module whose @task handlers to load (repeatable)."),
    ] = None,
    queues: Annotated[str, typer.Option(help="Comma-separated queues to consume.")] = "default",
    concurrency: Annotated[
        int | None,
        typer.Option(min=1, help="Attempts run at once (default: TASKSTREAM_WORKER_CONCURRENCY)."),
    ] = None,
) -> None:
    """Run a worker: consume dispatched tasks of QUEUES and run their handlers.

    Example: taskstream worker --tasks myapp.tasks --queues default,emails --concurrency 64
    """
    settings = _settings("worker")
    _run(
        "streams.worker.service",
        settings,
        task_modules=list(tasks or []),
        queues=[q.strip() for q in queues.split(",") if q.strip()],
        concurrency=concurrency or settings.worker_concurrency,
    )


def scheduler() -> None:
    """Run the scheduler: turn commands into events, keep timers, dispatch ready tasks.

    Example: TASKSTREAM_KAFKA_BOOTSTRAP=kafka:9092 taskstream scheduler
    """
    _run("streams.scheduler.service", _settings("scheduler"))


def api(
    host: Annotated[
        str | None, typer.Option(help="Bind address (default: TASKSTREAM_API_HOST).")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="Bind port (default: TASKSTREAM_API_PORT).")
    ] = None,
) -> None:
    """Run the REST and WebSocket API (and the UI's static files).

    Example: taskstream api --host 0.0.0.0 --port 8000
    """
    overrides = {k: v for k, v in {"api_host": host, "api_port": port}.items() if v is not None}
    _run("api.service", _settings("api", **overrides))


def projector() -> None:
    """Run the projector: apply the event log to the Postgres and Redis read models.

    Example: TASKSTREAM_POSTGRES_DSN=postgresql://postgres@db/taskstream taskstream projector
    """
    _run("projections.service", _settings("projector"))


def register(app: typer.Typer) -> None:
    """Add the four service commands to `app`."""
    for command in (api, scheduler, worker, projector):
        app.command(rich_help_panel="Services")(command)
