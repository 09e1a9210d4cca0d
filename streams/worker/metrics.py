"""Prometheus metrics of one worker process (its own registry, served on an optional port)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from taskstream.gc_tuning import serve_pauses

_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)


class WorkerMetrics:
    """Attempts started, succeeded and failed, their durations, and busy slots."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.started = Counter(
            "taskstream_worker_attempts_started",
            "Attempts this worker started.",
            ["type"],
            registry=self.registry,
        )
        self.succeeded = Counter(
            "taskstream_worker_attempts_succeeded",
            "Attempts that returned a result.",
            ["type"],
            registry=self.registry,
        )
        self.failed = Counter(
            "taskstream_worker_attempts_failed",
            "Attempts that failed (raised, timed out, cancelled by shutdown).",
            ["type", "retryable"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "taskstream_worker_attempt_duration_seconds",
            "Handler run time, by outcome.",
            ["type", "outcome"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.busy = Gauge(
            "taskstream_worker_busy_slots", "Concurrency slots in use.", registry=self.registry
        )
        self.deadlettered = Counter(
            "taskstream_worker_records_deadlettered",
            "Dispatch records that could not be decoded.",
            registry=self.registry,
        )
        self.skipped_stale = Counter(
            "taskstream_worker_dispatches_skipped_stale",
            "Dispatch records skipped because the scheduler had re-dispatched them.",
            registry=self.registry,
        )
        self.skipped_redelivered = Counter(
            "taskstream_worker_dispatches_skipped_redelivered",
            "Dispatches of an attempt this worker had already taken (delivered again, or "
            "dispatched again because the start was late).",
            registry=self.registry,
        )
        serve_pauses(self.registry)

    def serve(self, port: int, host: str) -> None:
        """Expose `/metrics` on `host:port` (a daemon thread)."""
        start_http_server(port, addr=host, registry=self.registry)
