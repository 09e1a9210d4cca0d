"""Composition root of the scheduler process."""

from __future__ import annotations

import asyncio
import logging

import faust
import prometheus_client

from streams.scheduler.app import SchedulerService, build_app
from taskstream.settings import Settings
from taskstream.topics import base_topic_names, ensure_topics

log = logging.getLogger(__name__)


def _serve_metrics(port: int, host: str) -> None:
    """Serve the metrics, or say why not: a taken port must not stop the scheduling."""
    try:
        prometheus_client.start_http_server(port, host)
    except OSError as exc:
        log.error(
            "metrics not served: the port cannot be bound "
            "(set TASKSTREAM_SCHEDULER_METRICS_PORT to a free port)",
            extra={"port": port, "host": host, "error": str(exc)},
        )
        return
    log.info("metrics served", extra={"port": port})


def run(settings: Settings) -> None:
    """Run the scheduler until SIGTERM/SIGINT."""
    asyncio.run(ensure_topics(settings, base_topic_names(settings)))
    if settings.scheduler_metrics_port is not None:
        _serve_metrics(settings.scheduler_metrics_port, settings.scheduler_metrics_host)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    service = SchedulerService(settings, loop=loop)
    app = build_app(settings, service)
    worker = faust.Worker(
        app,
        service,
        loop=loop,
        loglevel=settings.log_level.lower() if settings.log_level.lower() != "warning" else "warn",
        quiet=True,
        override_logging=False,
    )
    worker.execute_from_commandline()
