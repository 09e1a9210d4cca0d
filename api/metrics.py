"""Prometheus metrics of one API app: requests by route and status, commands appended.

Each app owns its registry, so two apps in one process (tests) never collide and nothing
is registered at import time.
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from taskstream.gc_tuning import serve_pauses

# Latency buckets (seconds) for an API whose answers are mostly a query or one append.
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class ApiMetrics:
    """The API's collectors, in their own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "taskstream_api_requests",
            "HTTP requests answered, by method, route template and status.",
            ("method", "route", "status"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "taskstream_api_request_seconds",
            "Time to answer an HTTP request, by method and route template.",
            ("method", "route"),
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.commands = Counter(
            "taskstream_api_commands_appended",
            "Commands the API appended to the commands topic (acknowledged), by type.",
            ("type",),
            registry=self.registry,
        )
        self.append_failures = Counter(
            "taskstream_api_command_append_failures",
            "Commands the API could not append, by type and outcome (unwritten, unknown).",
            ("type", "outcome"),
            registry=self.registry,
        )

        self.rate_limited = Counter(
            "taskstream_api_rate_limited",
            "Requests refused with 429 because their API key was over its rate.",
            registry=self.registry,
        )
        self.rate_limit_unavailable = Counter(
            "taskstream_api_rate_limit_unavailable",
            "Requests let through unlimited because the rate limiter's Redis did not answer.",
            registry=self.registry,
        )
        serve_pauses(self.registry)

    def render(self) -> bytes:
        """The Prometheus text exposition of every collector."""
        return generate_latest(self.registry)


def route_of(scope: Scope) -> str:
    """The route template that served `scope` (never the raw path: ids would explode it)."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


class MetricsMiddleware:
    """Count and time every HTTP request."""

    def __init__(self, app: ASGIApp, *, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        start = time.perf_counter()

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            route = route_of(scope)
            method = scope["method"]
            self.metrics.requests.labels(method, route, str(status)).inc()
            self.metrics.latency.labels(method, route).observe(time.perf_counter() - start)
