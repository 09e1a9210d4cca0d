"""Prometheus metrics of the scheduler."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

COMMANDS = Counter("taskstream_scheduler_commands_total", "Commands decided", ["type"])
EVENTS = Counter("taskstream_scheduler_events_total", "Events appended", ["type"])
DISPATCHED = Counter("taskstream_scheduler_dispatched_total", "Tasks dispatched", ["queue"])
TIMERS_FIRED = Counter("taskstream_scheduler_timers_fired_total", "Timers that fired", ["kind"])
BATCH_SECONDS = Histogram(
    "taskstream_scheduler_batch_seconds", "Time to decide and append one command batch"
)
PARTITIONS = Gauge("taskstream_scheduler_partitions", "Partitions owned by this process")
