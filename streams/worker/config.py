"""Worker-only settings (`TASKSTREAM_WORKER_*`), beside the shared `Settings`."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class WorkerSettings(BaseSettings):
    """Knobs only the worker reads."""

    model_config = SettingsConfigDict(env_prefix="TASKSTREAM_", extra="ignore")

    worker_metrics_port: int | None = Field(
        None, ge=0, le=65535, description="Serve Prometheus metrics on this port (off when unset)."
    )
    worker_metrics_host: str = Field("0.0.0.0", description="Bind address of the metrics port.")
    worker_log_lines_max: int = Field(
        1000, ge=1, description="Log lines one attempt may write; later lines are dropped, said so."
    )
    worker_log_line_max_chars: int = Field(
        8192, ge=100, description="Longest log line; longer ones are cut, with a marker."
    )
    worker_skip_stale_dispatches: bool = Field(
        True,
        description="Skip a dispatch older than dispatch_timeout_seconds plus the margin: the "
        "scheduler has dispatched it again long ago, most likely to a worker that runs it.",
    )
    worker_remembered_dispatches: int = Field(
        10_000,
        ge=0,
        description="Attempts this worker remembers having taken, to skip a dispatch of one "
        "again instead of running it twice: the broker delivers a record again after a "
        "group rebalance, before its offset was committed, and the scheduler dispatches an "
        "attempt again when its start is late (it accepts the first start either way); "
        "0 remembers none.",
    )
    worker_stale_dispatch_margin_seconds: float = Field(
        60.0, ge=0, description="Clock-skew allowance of the stale-dispatch check."
    )
