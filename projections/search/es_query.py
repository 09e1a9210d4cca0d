"""Elasticsearch search requests built from a `SearchQuery` (pure).

The text goes through `simple_query_string` (words, "phrases", `|` for or, `-` to
exclude; never a syntax error), every word required by default. The tenant is a `term`
filter in every request; filters are `filter` clauses (no effect on the score). Pages
continue with `search_after` on (score, id...), the sort values of the previous page's
last hit, carried in the cursor.
"""

from __future__ import annotations

from typing import Any

from projections.search import snippets
from projections.search.backend import SearchQuery, decode_cursor

TASK_FIELDS = ["type.text^3", "labels_text^2", "errors^2", "payload_text"]
LOG_FIELDS = ["message"]
_HIGHLIGHT_COMMON = {
    "pre_tags": [snippets.START],
    "post_tags": [snippets.STOP],
    "fragment_size": 150,
    "number_of_fragments": 3,
}


class UnsupportedFilter(ValueError):
    """A filter this backend cannot apply to this kind (names the field)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def _filters(query: SearchQuery, time_field: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [{"term": {"tenant": query.tenant}}]
    for field, value in (("status", query.status), ("queue", query.queue), ("type", query.type)):
        if value is not None:
            out.append({"term": {field: value}})
    bounds: dict[str, str] = {}
    if query.since is not None:
        bounds["gte"] = query.since.isoformat()
    if query.until is not None:
        bounds["lt"] = query.until.isoformat()
    if bounds:
        out.append({"range": {time_field: bounds}})
    return out


def _text(q: str, fields: list[str]) -> dict[str, Any]:
    return {"simple_query_string": {"query": q, "fields": fields, "default_operator": "and"}}


def build_task_search(query: SearchQuery) -> dict[str, Any]:
    """The `_search` body of one page of task hits (`size` is `limit + 1`)."""
    body: dict[str, Any] = {
        "query": {
            "bool": {"must": [_text(query.q, TASK_FIELDS)], "filter": _filters(query, "created_at")}
        },
        "sort": [{"_score": {"order": "desc"}}, {"task_id": {"order": "asc"}}],
        "size": query.limit + 1,
        "track_total_hits": False,
        "_source": ["task_id", "type", "status", "queue", "created_at"],
        "highlight": {
            **_HIGHLIGHT_COMMON,
            "fields": {"type.text": {}, "labels_text": {}, "errors": {}, "payload_text": {}},
        },
    }
    if query.cursor is not None:
        score, key = decode_cursor(query.cursor, "tasks")
        if not isinstance(key, str):
            raise ValueError("cursor")
        body["search_after"] = [score, key]
    return body


def build_log_search(query: SearchQuery) -> dict[str, Any]:
    """The `_search` body of one page of log-line hits (`size` is `limit + 1`).

    Log documents carry their task's queue and type (set when indexed), not its status,
    which changes after the line is written: a status filter is refused here.
    """
    if query.status is not None:
        raise UnsupportedFilter(
            "status", "cannot filter log lines by task status on Elasticsearch; use kind=tasks"
        )
    body: dict[str, Any] = {
        "query": {"bool": {"must": [_text(query.q, LOG_FIELDS)], "filter": _filters(query, "at")}},
        "sort": [
            {"_score": {"order": "desc"}},
            {"task_id": {"order": "asc"}},
            {"attempt": {"order": "asc"}},
            {"seq": {"order": "asc"}},
        ],
        "size": query.limit + 1,
        "track_total_hits": False,
        "_source": ["task_id", "attempt", "seq", "at", "level", "message"],
        "highlight": {**_HIGHLIGHT_COMMON, "fields": {"message": {"number_of_fragments": 0}}},
    }
    if query.cursor is not None:
        score, key = decode_cursor(query.cursor, "logs")
        if not (
            isinstance(key, list)
            and len(key) == 3
            and isinstance(key[0], str)
            and all(isinstance(k, int) and not isinstance(k, bool) for k in key[1:])
        ):
            raise ValueError("cursor")
        body["search_after"] = [score, *key]
    return body
