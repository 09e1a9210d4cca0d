"""Building the events an aggregate's `decide` emits (tasks and schedules alike)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from taskstream.domain import events as e
from taskstream.domain.envelope import Envelope, event_id_for, rejection_id_for


class Aggregate(Protocol):
    """What event building needs of an aggregate's state."""

    @property
    def version(self) -> int: ...

    @property
    def tenant(self) -> str: ...

    @property
    def correlation_id(self) -> str | None: ...


def next_event(
    state: Aggregate | None, cmd: Envelope, type_: str, payload: dict[str, Any], now: datetime
) -> Envelope:
    """The event that follows `state`'s version, caused by `cmd`."""
    version = (state.version if state else 0) + 1
    return Envelope(
        event_id=event_id_for(cmd.task_id, version, type_),
        type=type_,
        task_id=cmd.task_id,
        version=version,
        occurred_at=now,
        causation_id=cmd.event_id,
        correlation_id=cmd.correlation_id or (state.correlation_id if state else None),
        tenant=state.tenant if state else cmd.tenant,
        payload=payload,
    )


def reject(state: Aggregate | None, cmd: Envelope, reason: str, now: datetime) -> list[Envelope]:
    """The `command.rejected` event that records why `cmd` was refused."""
    return [
        Envelope(
            event_id=rejection_id_for(cmd.event_id),
            type=e.COMMAND_REJECTED,
            task_id=cmd.task_id,
            version=state.version if state else 0,
            occurred_at=now,
            causation_id=cmd.event_id,
            correlation_id=cmd.correlation_id,
            tenant=state.tenant if state else cmd.tenant,
            payload={"command_id": cmd.event_id, "command_type": cmd.type, "reason": reason},
        )
    ]
