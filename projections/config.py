"""Settings of the projector beyond the shared ones (`TASKSTREAM_PROJECTOR_*`)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ProjectorSettings(BaseSettings):
    """Projector-only settings; read at the projector's composition root."""

    model_config = SettingsConfigDict(env_prefix="TASKSTREAM_", extra="ignore")

    projector_metrics_port: int | None = Field(
        None, ge=1, le=65535, description="Serve Prometheus metrics on this port (off if unset)."
    )
    projector_name: str = Field(
        "tasks", min_length=1, description="Checkpoint name of the task projection."
    )
    projector_connect_seconds: float = Field(
        60.0, gt=0, description="How long to wait for Postgres at start."
    )
