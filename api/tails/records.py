"""What the tails keep of one record, and the JSON message a client receives for it.

Records are parsed once, when the API process reads them: the routing fields are pulled
out and the value is kept as the bytes on the wire, so a record costs its size in memory
and is embedded as it is in every message sent for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import orjson

from taskstream import codec
from taskstream.domain import events as ev
from taskstream.domain.errors import DecodeError

Stream = Literal["events", "logs"]
STREAMS: tuple[Stream, ...] = ("events", "logs")

# The status an event leaves its task in; None: the event does not change it.
_STATUS_AFTER: dict[str, str | None] = {
    ev.TASK_READY: "pending",
    ev.TASK_DISPATCHED: "pending",
    ev.ATTEMPT_STARTED: "running",
    ev.ATTEMPT_FAILED: "scheduled",
    ev.ATTEMPT_TIMED_OUT: "scheduled",
    ev.TASK_SUCCEEDED: "succeeded",
    ev.TASK_DEAD_LETTERED: "dead",
    ev.TASK_CANCELLED: "cancelled",
    ev.COMMAND_REJECTED: None,
}


@dataclass(frozen=True, slots=True)
class TailRecord:
    """One record of a tailed topic, with the fields the filters read."""

    partition: int
    offset: int
    timestamp_ms: int
    tenant: str
    task_id: str
    kind: str  # the event type; `log` for log lines
    status: str | None  # the task's status after this event (events only)
    queue: str | None  # known from `task.submitted` events only
    task_type: str | None
    raw: bytes


def status_after(event_type: str, payload: dict[str, Any]) -> str | None:
    """The status a task has after an event of `event_type` (None if unchanged or unknown)."""
    if event_type == ev.TASK_SUBMITTED:
        status = payload.get("status")
        return status if isinstance(status, str) else None
    return _STATUS_AFTER.get(event_type)


def parse_event(partition: int, offset: int, timestamp_ms: int, raw: bytes | None) -> TailRecord:
    """A record of the events topic (raises DecodeError)."""
    envelope = codec.decode(raw)
    p = envelope.payload
    submitted = envelope.type == ev.TASK_SUBMITTED
    value = raw if envelope.schema_version == ev.CURRENT_SCHEMA_VERSION else codec.encode(envelope)
    return TailRecord(
        partition=partition,
        offset=offset,
        timestamp_ms=timestamp_ms,
        tenant=envelope.tenant,
        task_id=envelope.task_id,
        kind=envelope.type,
        status=status_after(envelope.type, p),
        queue=str(p.get("queue")) if submitted and p.get("queue") is not None else None,
        task_type=str(p.get("type")) if submitted and p.get("type") is not None else None,
        raw=value or b"",
    )


def parse_log(partition: int, offset: int, timestamp_ms: int, raw: bytes | None) -> TailRecord:
    """A record of the logs topic (raises DecodeError)."""
    line = codec.decode_dict(raw)
    task_id, tenant = line.get("task_id"), line.get("tenant", "default")
    if not isinstance(task_id, str) or not isinstance(tenant, str):
        raise DecodeError("log line without a task_id or tenant")
    return TailRecord(
        partition=partition,
        offset=offset,
        timestamp_ms=timestamp_ms,
        tenant=tenant,
        task_id=task_id,
        kind="log",
        status=None,
        queue=None,
        task_type=None,
        raw=raw or b"",
    )


def message(stream: Stream, record: TailRecord, cursor: str) -> bytes:
    """The JSON message sent for `record`: position, cursor and the event (or log line)."""
    body_key = "event" if stream == "events" else "log"
    return orjson.dumps(
        {
            "position": f"{record.partition}:{record.offset}",
            "cursor": cursor,
            body_key: orjson.Fragment(record.raw),
        }
    )
