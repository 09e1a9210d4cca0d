"""Search documents built from task states and log lines (pure; the Elasticsearch side).

A task document holds what is searched (type, labels, payload text, attempt errors and
tracebacks), what is filtered on (tenant, queue, status, times) and, stored but not
indexed, the state the search projector folds the next events into. Text longer than
`max_chars` is cut there: an index has to bound what one document costs.
"""

from __future__ import annotations

from typing import Any

from projections.fold import fold_extras
from projections.logs import LogLine
from projections.search import es_mappings as names
from projections.search.text import bounded_join, leaf_text
from taskstream.domain.state import TaskState


def task_document(state: TaskState, *, max_chars: int) -> dict[str, Any]:
    """The tasks-index document of `state`."""
    errors = [text for a in state.attempts for text in (a.error, a.traceback) if text]
    shown = state.as_dict()
    return {
        "task_id": state.id,
        "tenant": state.tenant,
        "queue": state.queue,
        "type": state.type,
        "status": state.status.value,
        "priority": state.priority,
        "version": state.version,
        "attempts": len(state.attempts),
        "created_at": shown["created_at"],
        "updated_at": shown["updated_at"],
        "labels": dict(state.labels),
        "labels_text": " ".join(f"{k} {v}" for k, v in state.labels.items()),
        "payload_text": bounded_join(leaf_text(state.payload), max_chars),
        "errors": bounded_join(errors, max_chars),
        "state": shown,
        "fold": fold_extras(state),
    }


def task_action(
    alias: str, state: TaskState, *, max_chars: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The bulk action and source indexing `state`, versioned by the task version."""
    action = {
        "index": {
            "_index": alias,
            "_id": state.id,
            "version": state.version,
            "version_type": "external",
        }
    }
    return action, task_document(state, max_chars=max_chars)


def log_id(line: LogLine) -> str:
    """A log line's document id: its position, so a replayed line lands on itself."""
    return f"{line.task_id}:{line.attempt}:{line.seq}"


def log_document(line: LogLine, *, queue: str | None, type: str | None) -> dict[str, Any]:
    """The logs-index document of one line (`queue`/`type` of its task, when known)."""
    doc: dict[str, Any] = {
        "task_id": line.task_id,
        "tenant": line.tenant,
        "attempt": line.attempt,
        "seq": line.seq,
        "at": line.at.isoformat(),
        "level": line.level,
        "message": line.message,
    }
    if queue is not None:
        doc["queue"] = queue
    if type is not None:
        doc["type"] = type
    return doc


def log_action(
    prefix: str, line: LogLine, *, queue: str | None = None, type: str | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The bulk action and source appending one line to its daily index (create, once)."""
    action = {"create": {"_index": names.logs_index(prefix, line.at), "_id": log_id(line)}}
    return action, log_document(line, queue=queue, type=type)
