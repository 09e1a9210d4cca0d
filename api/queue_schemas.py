"""Response bodies of `/v1/queues` (counts and statistics) and `/v1/workers`."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

COUNTS_SOURCE_HEADER = "Taskstream-Counts-Source"


class QueueCounts(BaseModel):
    """Tasks per counted status (succeeded and cancelled are in the statistics)."""

    pending: int = Field(description="Ready, waiting for a worker or dispatched to one.")
    scheduled: int = Field(description="Waiting for `run_at` or a retry's backoff.")
    running: int = Field(description="An attempt started and has not ended.")
    dead: int = Field(description="In the dead-letter list.")


class PriorityCounts(QueueCounts):
    """The counts of one priority."""

    priority: int = Field(ge=0, le=9)


class QueueSummary(BaseModel):
    """A queue: its settings and its task counts."""

    queue: str = Field(examples=["emails"])
    paused: bool = Field(description="Paused queues dispatch nothing until resumed.")
    concurrency_limit: int | None = Field(
        description="Most attempts running at once; null: only the workers' capacity limits it."
    )
    counts: QueueCounts
    by_priority: list[PriorityCounts] = Field(description="Priorities with tasks, highest first.")
    links: dict[str, str] = Field(default_factory=dict)


class QueueList(BaseModel):
    """Every queue of the caller's tenant."""

    queues: list[QueueSummary]
    counts_source: Literal["redis", "postgres"] = Field(
        description="Where the counts came from (also the `Taskstream-Counts-Source` header)."
    )


class QueueDetail(QueueSummary):
    """One queue."""

    counts_source: Literal["redis", "postgres"]


class Durations(BaseModel):
    """Durations in seconds; the p50 comes from a histogram (within a factor of √2)."""

    count: int
    avg: float | None
    p50: float | None


class StatsWindow(BaseModel):
    """What happened in one window."""

    submitted: int
    started: int = Field(description="Attempts started.")
    succeeded: int
    failed: int = Field(description="Attempts that failed or timed out.")
    retried: int = Field(description="Failed or timed-out attempts followed by a retry.")
    dead_lettered: int
    cancelled: int
    redriven: int
    throughput_per_minute: float | None = Field(
        description="Tasks ended (succeeded, dead-lettered or cancelled) per minute."
    )
    success_rate: float | None = Field(
        description="succeeded / (succeeded + failed attempts); null without either."
    )
    failure_rate: float | None
    run_seconds: Durations = Field(description="Attempt start to its end.")
    wait_seconds: Durations = Field(description="Ready to the attempt's start.")


class StatsBucket(StatsWindow):
    """One bucket that has data."""

    start: datetime


class QueueStats(BaseModel):
    """A queue's statistics over [since, until)."""

    queue: str
    since: datetime
    until: datetime
    bucket: str
    bucket_seconds: int
    totals: StatsWindow
    buckets: list[StatsBucket] = Field(description="Buckets with data, oldest first.")


class WorkerAttempt(BaseModel):
    """An attempt a worker is running (only the caller's tenant's)."""

    task_id: str
    attempt: int
    started_at: datetime | None


class WorkerInfo(BaseModel):
    """A worker, as its last heartbeat described it."""

    worker: str = Field(examples=["host-1:4242:9f3a1c"])
    queues: list[str]
    capacity: int = Field(description="Attempts it runs at once (its concurrency).")
    in_flight: int = Field(description="Attempts it holds now, for every tenant.")
    status: Literal["up", "down", "lapsed"] = Field(
        description="`down`: said goodbye; `lapsed`: no heartbeat within the timeout."
    )
    host: str | None = None
    pid: int | None = None
    started_at: datetime | None = None
    last_heartbeat: datetime
    attempts: list[WorkerAttempt] = Field(
        description="Its running attempts of the caller's tenant's tasks."
    )
    attempts_reported: bool = Field(
        description="False for a worker too old to list its attempts in its heartbeat."
    )


class WorkerList(BaseModel):
    """The workers seen on the workers topic."""

    workers: list[WorkerInfo]
    heartbeat_timeout_seconds: float = Field(
        description="A worker silent this long counts as lapsed (dead)."
    )
