"""Dispatch records: what the scheduler hands to a queue's workers, and what is wrong with one."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from taskstream.codec import decode_dict
from taskstream.domain.errors import DecodeError


class Dispatch(BaseModel):
    """One attempt to run (fields a newer scheduler adds are ignored)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    task_id: str = Field(min_length=1)
    tenant: str = "default"
    queue: str
    type: str = Field(min_length=1)
    payload: Any = None
    attempt: int = Field(ge=1)
    dispatch_id: str = Field(min_length=1)
    priority: int = 5
    timeout_seconds: float = Field(gt=0)
    dispatched_at: AwareDatetime
    correlation_id: str | None = None
    # Dispatched ahead of its run_at: the attempt starts no sooner than this.
    not_before: AwareDatetime | None = None


def parse_dispatch(raw: bytes | None) -> Dispatch:
    """The dispatch in one record value (raises DecodeError)."""
    data = decode_dict(raw)
    try:
        return Dispatch.model_validate(data)
    except ValidationError as exc:
        raise DecodeError(f"not a dispatch record: {exc}".replace("\n", " ")[:2000]) from exc


def deadletter_record(
    source_topic: str, partition: int, offset: int, error: str, raw: bytes | None
) -> dict[str, Any]:
    """What goes to the dead-letter topic for a record that cannot be decoded."""
    return {
        "source_topic": source_topic,
        "partition": partition,
        "offset": offset,
        "error": error,
        "value": (raw or b"").decode("utf-8", errors="replace"),
    }


def hold_seconds(dispatch: Dispatch, now: datetime) -> float:
    """How long to hold the start of a dispatch made ahead of its time (0: start now)."""
    if dispatch.not_before is None:
        return 0.0
    return max(0.0, (dispatch.not_before - now).total_seconds())


def dispatch_age(dispatch: Dispatch, now: datetime) -> float:
    """Seconds since the scheduler dispatched it (by the two hosts' clocks)."""
    return (now - dispatch.dispatched_at).total_seconds()
