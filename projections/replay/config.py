"""Settings of the replay tooling (`TASKSTREAM_REPLAY_*`)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ReplaySettings(BaseSettings):
    """Rebuild, verify and log export/import settings; read by the `replay` and `log` commands."""

    model_config = SettingsConfigDict(env_prefix="TASKSTREAM_", extra="ignore")

    replay_batch_size: int = Field(
        40_000,
        ge=1,
        description="Records a rebuild applies per transaction (each replay process holds "
        "about two batches in memory).",
    )
    replay_switch_gap: int = Field(
        20_000,
        ge=0,
        description="A rebuild switches over once it is this few records behind the live "
        "projector; the rest is applied while the projector waits.",
    )
    replay_workers: int = Field(
        2,
        ge=1,
        le=64,
        description="Processes a rebuild replays with, each over its own partitions "
        "(about one per core Postgres leaves free).",
    )
    replay_state_cache: int = Field(
        200_000, ge=0, description="Task states a rebuild keeps in memory between batches."
    )
    replay_verify_show: int = Field(
        20, ge=0, description="Differences `replay verify` prints per table (all are counted)."
    )
    replay_import_chunk: int = Field(
        5_000, ge=1, description="Records `log import` sends before waiting for the broker."
    )
