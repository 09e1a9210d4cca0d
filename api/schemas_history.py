"""Response bodies of a task's history: attempts, log lines, and its state at a version."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from api.schemas import AttemptOut, TaskOut


class AttemptList(BaseModel):
    """A task's attempts, first to last."""

    items: list[AttemptOut]


class LogLineOut(BaseModel):
    """One log line of an attempt."""

    attempt: int = Field(description="The attempt that logged it.")
    seq: int = Field(description="Its number within the attempt, from 1.")
    at: datetime
    level: str = Field(examples=["info"])
    message: str


class LogList(BaseModel):
    """Log lines in order of (attempt, seq)."""

    items: list[LogLineOut]


class AsOf(BaseModel):
    """Which point of the task's history a state is."""

    version: int = Field(description="The task version after the last event folded in.")
    at: datetime = Field(description="When that event happened.")


class TaskAsOf(TaskOut):
    """A task as it was, folded from its archived events."""

    as_of: AsOf
