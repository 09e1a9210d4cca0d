"""The search API's one contract, whichever engine answers: query in, page of hits out.

`SearchQuery` is what `GET /v1/search` asks (the tenant always set by the caller's key);
a backend answers a `SearchPage` whose `next_cursor` continues after its last hit. Hits
are ordered by score, best first, ties by id; the cursor is opaque to clients.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

import orjson

Kind = Literal["tasks", "logs"]
KINDS: tuple[Kind, ...] = ("tasks", "logs")


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """One search: the text, the tenant it is scoped to, filters and the page asked for."""

    q: str
    tenant: str
    kind: Kind = "tasks"
    status: str | None = None
    queue: str | None = None
    type: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 50
    cursor: str | None = None


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One match: the task it belongs to, a snippet with the matched words marked, its score."""

    kind: Kind
    task_id: str
    type: str
    status: str
    queue: str
    score: float
    snippet: str
    at: datetime
    attempt: int | None = None
    seq: int | None = None
    level: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form, as the API shows it."""
        out: dict[str, Any] = {
            "kind": self.kind,
            "task_id": self.task_id,
            "type": self.type,
            "status": self.status,
            "queue": self.queue,
            "score": self.score,
            "snippet": self.snippet,
            "at": self.at.isoformat(),
        }
        if self.kind == "logs":
            out.update(attempt=self.attempt, seq=self.seq, level=self.level)
        return out


@dataclass(frozen=True, slots=True)
class SearchPage:
    """Hits of one page and the cursor of the next (None at the end)."""

    hits: list[SearchHit] = field(default_factory=list)
    next_cursor: str | None = None
    backend: str = ""


class SearchBackend(Protocol):
    """An engine that answers searches (Postgres full text or Elasticsearch)."""

    name: str

    async def search(self, query: SearchQuery) -> SearchPage:
        """One page of hits for `query` (raises `ValueError("cursor")` on a foreign cursor)."""
        ...


class SearchUnavailable(Exception):
    """The search engine did not answer (the API turns it into a 503)."""


def encode_cursor(kind: Kind, score: float, key: str | list[Any]) -> str:
    """The opaque cursor that continues after a hit of `score` and sort `key`."""
    raw = orjson.dumps([kind, score, key])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, kind: Kind) -> tuple[float, Any]:
    """The (score, key) a cursor names; `ValueError("cursor")` for anything else."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        if b"\\u0000" in raw:  # Postgres text cannot hold it: not a cursor we issued
            raise ValueError("cursor")
        got_kind, score, key = orjson.loads(raw)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise ValueError("cursor") from exc
    if got_kind != kind or isinstance(score, bool) or not isinstance(score, int | float):
        raise ValueError("cursor")
    return float(score), key
