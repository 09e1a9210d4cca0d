"""Response bodies of `GET /v1/search`."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

_TASK_HIT: dict[str, Any] = {
    "kind": "tasks",
    "task_id": "tsk_01JD9ZQ4M6R5",
    "type": "send_email",
    "status": "dead",
    "queue": "emails",
    "score": 0.0991,
    "snippet": "send_email … SMTPRecipientsRefused: <mark>mailbox</mark> <mark>unavailable</mark>",
    "at": "2026-11-27T08:00:00+00:00",
}
_LOG_HIT: dict[str, Any] = {
    "kind": "logs",
    "task_id": "tsk_01JD9ZQ4M6R5",
    "type": "send_email",
    "status": "dead",
    "queue": "emails",
    "score": 0.0608,
    "snippet": "retrying after <mark>mailbox</mark> <mark>unavailable</mark> from mx1",
    "at": "2026-11-27T08:00:01.250000+00:00",
    "attempt": 2,
    "seq": 4,
    "level": "warning",
}


class SearchHitOut(BaseModel):
    """One match: the task it belongs to, a snippet and its score."""

    model_config = ConfigDict(json_schema_extra={"examples": [_TASK_HIT, _LOG_HIT]})

    kind: Literal["tasks", "logs"] = Field(description="What matched: a task or a log line.")
    task_id: str
    type: str = Field(description="The task type ('' for a log line of a task not yet read).")
    status: str = Field(description="The task's current status.")
    queue: str
    score: float = Field(
        description="Relevance, higher is better; only comparable within one search."
    )
    snippet: str = Field(
        description="The matched text, HTML-escaped, with matched words in `<mark>` tags."
    )
    at: datetime = Field(description="When the task was created, or when the line was logged.")
    attempt: int | None = Field(None, description="The attempt that logged the line (logs only).")
    seq: int | None = Field(None, description="The line's number within the attempt (logs only).")
    level: str | None = Field(None, description="The line's level (logs only).")


class SearchPageOut(BaseModel):
    """A page of hits, best first."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"items": [_TASK_HIT], "next_cursor": None, "backend": "postgres"}]
        }
    )

    items: list[SearchHitOut]
    next_cursor: str | None = Field(None, description="Pass as `cursor` for the next page.")
    backend: str = Field(description="Which engine answered: `postgres` or `elasticsearch`.")
