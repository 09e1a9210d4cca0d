"""Prometheus metrics of the projector."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

EVENTS_APPLIED = Counter(
    "taskstream_projector_events_applied_total", "Events applied to the read model", ["type"]
)
TASKS_UPDATED = Counter("taskstream_projector_tasks_updated_total", "Task rows written")
FOLD_ERRORS = Counter(
    "taskstream_projector_fold_errors_total", "Events archived but not folded (version gaps)"
)
UNDECODABLE = Counter(
    "taskstream_projector_undecodable_total", "Records sent to the dead-letter topic"
)
REFUSED = Counter(
    "taskstream_projector_refused_total",
    "Records Postgres refused, sent to the dead-letter topic so their partition flows on",
)
SANITIZED = Counter(
    "taskstream_projector_sanitized_batches_total",
    "Batches stored with U+0000 replaced (Postgres cannot hold it)",
)
APPLY_FAILURES = Counter(
    "taskstream_projector_apply_failures_total", "Batch applies that failed and were retried"
)
BATCH_SIZE = Histogram(
    "taskstream_projector_batch_size",
    "Records per applied batch",
    buckets=(1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000),
)
BATCH_SECONDS = Histogram(
    "taskstream_projector_batch_seconds",
    "Time to apply one batch in Postgres",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
LAG_SECONDS = Gauge(
    "taskstream_projector_lag_seconds",
    "Now minus occurred_at of the last applied event",
    ["partition"],
)
PARTITIONS = Gauge("taskstream_projector_partitions", "Events partitions owned by this process")
LOG_LINES_APPLIED = Counter(
    "taskstream_projector_log_lines_applied_total", "Log lines stored (duplicates not counted)"
)
LOG_BATCH_SECONDS = Histogram(
    "taskstream_projector_log_batch_seconds",
    "Time to apply one batch of log lines in Postgres",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
COUNTER_CHANGES = Counter(
    "taskstream_projector_counter_changes_total",
    "Batch changes sent to the Redis counters, by answer (applied, duplicate, gap, ...)",
    ["result"],
)
COUNTER_REBUILDS = Counter(
    "taskstream_projector_counter_rebuilds_total", "Redis counters rebuilt from Postgres"
)
COUNTER_FAILURES = Counter(
    "taskstream_projector_counter_failures_total",
    "Redis counter writes or rebuilds that failed",
    ["operation"],
)
