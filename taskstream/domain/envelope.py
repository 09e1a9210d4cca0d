"""The record envelope every command and event travels in."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

# Deterministic event ids: a replayed command yields byte-identical events.
_EVENT_NS = uuid.UUID("6f1d3c2e-8a55-4b0f-9a51-0d6c1c3f7e21")


class Envelope(BaseModel):
    """A command or event: the unit written to every topic."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: str = Field(description="Unique id; a command's id is its `command_id`.")
    type: str = Field(description="Stable type string, e.g. `task.submitted`.")
    schema_version: int = 1
    task_id: str
    version: int = Field(0, description="Per-task version of an event; 0 on commands.")
    occurred_at: datetime
    causation_id: str | None = None
    correlation_id: str | None = None
    tenant: str = "default"
    payload: dict[str, Any] = Field(default_factory=dict)


def event_id_for(task_id: str, version: int, type_: str) -> str:
    """Event id derived from what it is, so replays produce the same id."""
    return str(uuid.uuid5(_EVENT_NS, f"{task_id}:{version}:{type_}"))


def rejection_id_for(command_id: str) -> str:
    """Id of the `command.rejected` event that answers one command."""
    return str(uuid.uuid5(_EVENT_NS, f"rejected:{command_id}"))
