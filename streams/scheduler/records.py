"""The records the scheduler writes besides events: dispatch and control."""

from __future__ import annotations

from typing import Any

from taskstream.codec import encode_dict
from taskstream.domain.envelope import Envelope
from taskstream.domain.state import Attempt, TaskState
from taskstream.settings import Settings

Outgoing = tuple[str, bytes, bytes, int | None]  # topic, key, value, partition


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
    return (settings.dispatch_topic(task.queue), task.id.encode(), encode_dict(record), None)
