"""`taskstream worker`: the worker's composition root and blocking entry point."""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import re
import sys
import traceback

from streams.worker.config import WorkerSettings
from streams.worker.metrics import WorkerMetrics
from streams.worker.runtime import Worker
from taskstream.builtin import builtin_registry
from taskstream.domain.commands import QUEUE_PATTERN
from taskstream.registry import RegistrationError, Registry, default_registry
from taskstream.settings import Settings

log = logging.getLogger(__name__)

EXIT_USAGE = 2


def _usage_error(message: str) -> SystemExit:
    print(f"taskstream worker: {message}", file=sys.stderr)
    return SystemExit(EXIT_USAGE)


def load_task_modules(modules: list[str]) -> None:
    """Import the `--tasks` modules, whose `@task` decorators fill `default_registry`."""
    # Like `python -m`, let a module next to where the worker was started be found.
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    for name in modules:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name is None or not (name == exc.name or name.startswith(exc.name + ".")):
                raise _import_error(name, exc) from exc
            raise _usage_error(
                f"cannot import task module {name!r}: {exc}\n"
                f"(sys.path starts with {sys.path[:3]}; is the module installed, "
                "or is the worker started from the directory that holds it?)"
            ) from exc
        except Exception as exc:
            raise _import_error(name, exc) from exc


def _import_error(name: str, exc: BaseException) -> SystemExit:
    detail = "".join(traceback.format_exception(exc)).rstrip()
    return _usage_error(f"task module {name!r} failed while importing:\n{detail}")


def build_registry(settings: Settings) -> Registry:
    """Built-in task types plus every `@task` handler imported so far."""
    registry = builtin_registry(settings)
    try:
        registry.update(default_registry)
    except RegistrationError as exc:
        raise _usage_error(f"{exc} (built-in types: {', '.join(registry.names())})") from exc
    return registry


def run(settings: Settings, task_modules: list[str], queues: list[str], concurrency: int) -> None:
    """Run a worker on `queues` until SIGTERM/SIGINT; exits 2 on bad arguments."""
    if not queues:
        raise _usage_error("give at least one queue (--queues default,emails)")
    bad = [q for q in queues if not re.fullmatch(QUEUE_PATTERN, q)]
    if bad:
        raise _usage_error(f"queue names must match {QUEUE_PATTERN}: {', '.join(bad)}")
    if concurrency < 1:
        raise _usage_error(f"concurrency must be at least 1, not {concurrency}")
    load_task_modules(task_modules)
    registry = build_registry(settings)
    worker_settings = WorkerSettings()
    metrics = WorkerMetrics()
    if worker_settings.worker_metrics_port is not None:
        metrics.serve(worker_settings.worker_metrics_port, worker_settings.worker_metrics_host)
        log.info("metrics served", extra={"port": worker_settings.worker_metrics_port})
    worker = Worker(
        settings,
        worker_settings,
        registry,
        list(dict.fromkeys(queues)),
        concurrency,
        metrics=metrics,
    )
    try:
        code = asyncio.run(worker.run())
    except Exception as exc:
        log.error("worker failed", extra={"error": repr(exc)}, exc_info=exc)
        code = 1
    runner = getattr(worker, "runner", None)
    if runner is not None and runner.threads_busy:
        # Sync handlers still in their threads cannot be stopped, and the interpreter
        # would wait for them at exit; their attempts are already reported as failed.
        log.warning(
            "exiting with sync handlers still running", extra={"count": runner.threads_busy}
        )
        logging.shutdown()
        os._exit(code)
    if code:
        raise SystemExit(code)
