"""Queues as aggregates in the log: their commands, events and state.

A queue's settings (paused, concurrency limit) belong to one tenant's queue. The
aggregate id is `que_<tenant>:<queue>`; it rides in the envelope's `task_id` field like
a schedule's id, so its commands, events and state share one partition. Queue names
cannot hold `:`, so the id splits back at its last `:` whatever the tenant is.

Event payloads (timestamps ISO 8601 UTC):

- `queue.paused` / `queue.resumed`: `queue`, `reason`, `at`.
- `queue.limit_set`: `queue`, `limit` (int ≥ 1, or null: no limit), `previous`, `reason`, `at`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field

from taskstream.domain.commands import QUEUE_PATTERN

QUEUE_PREFIX: Final = "que_"
MAX_LIMIT: Final = 100_000

PAUSE_QUEUE: Final = "queue.pause"
RESUME_QUEUE: Final = "queue.resume"
SET_QUEUE_LIMIT: Final = "queue.set_limit"

QUEUE_PAUSED: Final = "queue.paused"
QUEUE_RESUMED: Final = "queue.resumed"
QUEUE_LIMIT_SET: Final = "queue.limit_set"

QUEUE_EVENT_TYPES: Final = (QUEUE_PAUSED, QUEUE_RESUMED, QUEUE_LIMIT_SET)
QUEUE_COMMANDS: Final = frozenset({PAUSE_QUEUE, RESUME_QUEUE, SET_QUEUE_LIMIT})


def is_queue(aggregate_id: str) -> bool:
    """True if the id names a queue aggregate."""
    return aggregate_id.startswith(QUEUE_PREFIX)


def queue_id(tenant: str, queue: str) -> str:
    """The aggregate id of `tenant`'s queue `queue`."""
    if not re.fullmatch(QUEUE_PATTERN, queue):
        raise ValueError(f"queue must match {QUEUE_PATTERN}, not {queue!r}")
    return f"{QUEUE_PREFIX}{tenant}:{queue}"


def parse_queue_id(aggregate_id: str) -> tuple[str, str]:
    """(tenant, queue) of a queue aggregate id (raises `ValueError`)."""
    if not is_queue(aggregate_id) or ":" not in aggregate_id:
        raise ValueError(f"not a queue id: {aggregate_id!r}")
    tenant, queue = aggregate_id[len(QUEUE_PREFIX) :].rsplit(":", 1)
    if not tenant or not re.fullmatch(QUEUE_PATTERN, queue):
        raise ValueError(f"not a queue id: {aggregate_id!r}")
    return tenant, queue


class _Body(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    reason: str = Field("", max_length=1000)


class PauseQueue(_Body):
    """Stop dispatching the queue's tasks; running attempts finish, timers keep firing."""


class ResumeQueue(_Body):
    """Dispatch the queue's tasks again."""


class SetQueueLimit(_Body):
    """Cap the queue's attempts in flight over all partitions (null: no cap)."""

    limit: int | None = Field(..., ge=1, le=MAX_LIMIT)


QUEUE_PAYLOADS: Final[dict[str, type[_Body]]] = {
    PAUSE_QUEUE: PauseQueue,
    RESUME_QUEUE: ResumeQueue,
    SET_QUEUE_LIMIT: SetQueueLimit,
}


@dataclass(frozen=True, slots=True)
class QueueSettings:
    """What every scheduler partition needs to know of a queue to dispatch its tasks."""

    tenant: str
    queue: str
    paused: bool = False
    limit: int | None = None
    version: int = 0

    def as_record(self) -> dict[str, Any]:
        """The broadcast record on the queues topic."""
        return {
            "queue_id": f"{QUEUE_PREFIX}{self.tenant}:{self.queue}",
            "tenant": self.tenant,
            "queue": self.queue,
            "paused": self.paused,
            "limit": self.limit,
            "version": self.version,
        }


@dataclass(frozen=True, slots=True)
class QueueState:
    """A queue as its events have made it."""

    id: str
    tenant: str
    queue: str
    paused: bool
    limit: int | None
    version: int
    updated_at: datetime
    correlation_id: str | None = None
    seen_commands: frozenset[str] = field(default_factory=frozenset)

    @property
    def settings(self) -> QueueSettings:
        """The part every scheduler partition follows."""
        return QueueSettings(self.tenant, self.queue, self.paused, self.limit, self.version)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form, as the read model and the API show it."""
        return {
            "id": self.id,
            "tenant": self.tenant,
            "queue": self.queue,
            "paused": self.paused,
            "limit": self.limit,
            "version": self.version,
            "updated_at": self.updated_at.isoformat(),
        }
