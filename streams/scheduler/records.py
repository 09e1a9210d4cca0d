"""The records the scheduler writes besides events: dispatch and control."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from typing import Any

from taskstream.codec import encode_dict
from taskstream.domain.envelope import Envelope
from taskstream.domain.state import Attempt, TaskState
from taskstream.settings import Settings

log = logging.getLogger(__name__)

Outgoing = tuple[str, bytes, bytes, int | None]  # topic, key, value, partition


async def delivered(out: list[Outgoing], futures: list[asyncio.Future[Any]]) -> None:
    """Wait until the broker acknowledged every record of `out` (its send `futures`);
    if any failed, log which topics and partitions, then raise the first error."""
    results = await asyncio.gather(*futures, return_exceptions=True)
    failed = Counter(
        (record[0], record[3], repr(result))
        for record, result in zip(out, results, strict=True)
        if isinstance(result, BaseException)
    )
    if not failed:
        return
    log.error(
        "scheduler records not delivered",
        extra={
            "failed": [
                {"topic": t, "partition": p, "error": err, "records": n}
                for (t, p, err), n in sorted(failed.items(), key=str)
            ],
            "records": len(out),
        },
    )
    raise next(r for r in results if isinstance(r, BaseException))


def control_record(topic: str, task_id: str, running: Attempt) -> Outgoing:
    """The control record that tells `running`'s worker to stop the attempt.

    It names the worker, so every worker can follow the whole control topic and act on
    its own records only, with no need to find the topic's end (see docs/architecture.md).
    """
    record = {
        "kind": "cancel",
        "task_id": task_id,
        "attempt": running.number,
        "worker": running.worker,
    }
    return (topic, task_id.encode(), encode_dict(record), None)


def dispatch_record(settings: Settings, task: TaskState, event: Envelope) -> Outgoing:
    """The `dispatch.<queue>` record that hands `task` to its queue's workers."""
    record: dict[str, Any] = {
        "task_id": task.id,
        "tenant": task.tenant,
        "queue": task.queue,
        "type": task.type,
        "payload": task.payload,
        "attempt": event.payload["attempt"],
        "dispatch_id": event.payload["dispatch_id"],
        "priority": task.priority,
        "timeout_seconds": task.timeout_seconds,
        "dispatched_at": event.payload["dispatched_at"],
        "correlation_id": task.correlation_id,
    }
    if task.not_before is not None:
        record["not_before"] = task.not_before.isoformat()
    return (settings.dispatch_topic(task.queue), task.id.encode(), encode_dict(record), None)
