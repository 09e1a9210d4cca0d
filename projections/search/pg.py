"""Postgres full-text search: the default backend (`task_search` and `task_logs.search`).

Migration 0006 keeps one tsvector per task in `task_search` (type, labels, payload text
and attempt errors) and one per log line in `task_logs.search`. Queries use
`websearch_to_tsquery('simple', q)`: words, "quoted phrases", `or`, `-excluded`; the
`simple` configuration does not stem, so identifiers and error names match as written.
`build_task_query`/`build_log_query` are pure (tested without a server); the SQL they
build filters by tenant first, so a key never sees another tenant's rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg

from projections.search import snippets
from projections.search.backend import (
    SearchHit,
    SearchPage,
    SearchQuery,
    decode_cursor,
    encode_cursor,
)

HEADLINE_OPTIONS = (
    f"StartSel={snippets.START}, StopSel={snippets.STOP}, MaxWords=30, MinWords=8, "
    'MaxFragments=3, FragmentDelimiter=" … "'
)
# The text a task's snippet is cut from (the same pieces its tsvector indexes).
_TASK_TEXT = (
    "concat_ws(' ', t.type, taskstream_json_text(t.state->'labels'),"
    " left(taskstream_json_text(t.state->'payload'), 65536),"
    " (SELECT string_agg(a->>'error', ' ') FROM jsonb_array_elements(t.state->'attempts') AS a))"
)


@dataclass(frozen=True, slots=True)
class Sql:
    """A statement and its arguments."""

    text: str
    args: tuple[Any, ...]


def _filters(query: SearchQuery, args: list[Any], time_column: str) -> list[str]:
    where: list[str] = []
    for column, value in (
        ("t.status", query.status),
        ("t.queue", query.queue),
        ("t.type", query.type),
    ):
        if value is not None:
            args.append(value)
            where.append(f"{column} = ${len(args)}")
    if query.since is not None:
        args.append(query.since)
        where.append(f"{time_column} >= ${len(args)}")
    if query.until is not None:
        args.append(query.until)
        where.append(f"{time_column} < ${len(args)}")
    return where


def build_task_query(query: SearchQuery) -> Sql:
    """The SQL of one page of task hits (`limit + 1` rows: the extra one says there is more)."""
    args: list[Any] = [query.tenant, query.q]
    where = ["s.tenant = $1", "t.tenant = $1", "s.document @@ q.query"]
    where += _filters(query, args, "t.created_at")
    after = ""
    if query.cursor is not None:
        score, key = decode_cursor(query.cursor, "tasks")
        if not isinstance(key, str):
            raise ValueError("cursor")
        args += [score, key]
        n = len(args)
        after = f"WHERE m.score < ${n - 1} OR (m.score = ${n - 1} AND m.id > ${n})"
    args.append(query.limit + 1)
    text = f"""
WITH q AS (SELECT websearch_to_tsquery('simple', $2) AS query),
m AS (
    SELECT t.id, t.type, t.status, t.queue, t.created_at,
           ts_rank(s.document, q.query)::float8 AS score
    FROM task_search s JOIN tasks t ON t.id = s.task_id, q
    WHERE {" AND ".join(where)}
),
page AS (SELECT * FROM m {after} ORDER BY score DESC, id LIMIT ${len(args)})
SELECT page.*, ts_headline('simple', {_TASK_TEXT}, q.query, '{HEADLINE_OPTIONS}') AS snippet
FROM page JOIN tasks t ON t.id = page.id, q
ORDER BY page.score DESC, page.id
"""
    return Sql(text, tuple(args))


def build_log_query(query: SearchQuery) -> Sql:
    """The SQL of one page of log-line hits (`limit + 1` rows)."""
    args: list[Any] = [query.tenant, query.q]
    where = ["l.tenant = $1", "l.search @@ q.query"]
    where += _filters(query, args, "l.at")
    after = ""
    if query.cursor is not None:
        score, key = decode_cursor(query.cursor, "logs")
        if not (
            isinstance(key, list)
            and len(key) == 3
            and isinstance(key[0], str)
            and all(isinstance(k, int) and not isinstance(k, bool) for k in key[1:])
        ):
            raise ValueError("cursor")
        args += [score, *key]
        n = len(args)
        after = (
            f"WHERE m.score < ${n - 3} OR (m.score = ${n - 3}"
            f" AND (m.task_id, m.attempt, m.seq) > (${n - 2}, ${n - 1}::int, ${n}::int))"
        )
    args.append(query.limit + 1)
    text = f"""
WITH q AS (SELECT websearch_to_tsquery('simple', $2) AS query),
m AS (
    SELECT l.task_id, l.attempt, l.seq, l.at, l.level, l.message,
           coalesce(t.type, '') AS type, coalesce(t.status, '') AS status,
           coalesce(t.queue, '') AS queue, ts_rank(l.search, q.query)::float8 AS score
    FROM task_logs l LEFT JOIN tasks t ON t.id = l.task_id AND t.tenant = l.tenant, q
    WHERE {" AND ".join(where)}
),
page AS (SELECT * FROM m {after} ORDER BY score DESC, task_id, attempt, seq LIMIT ${len(args)})
SELECT page.*, ts_headline('simple', page.message, q.query, '{HEADLINE_OPTIONS}') AS snippet
FROM page, q
ORDER BY page.score DESC, page.task_id, page.attempt, page.seq
"""
    return Sql(text, tuple(args))


class PostgresSearch:
    """`SearchBackend` on the Postgres read model."""

    name = "postgres"

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def search(self, query: SearchQuery) -> SearchPage:
        """One page of hits, best first."""
        if query.kind == "logs":
            return await self._logs(query)
        sql = build_task_query(query)
        rows = await self._pool.fetch(sql.text, *sql.args)
        page = rows[: query.limit]
        hits = [
            SearchHit(
                kind="tasks",
                task_id=r["id"],
                type=r["type"],
                status=r["status"],
                queue=r["queue"],
                score=r["score"],
                snippet=snippets.render(r["snippet"] or ""),
                at=r["created_at"],
            )
            for r in page
        ]
        more = len(rows) > query.limit
        cursor = encode_cursor("tasks", page[-1]["score"], page[-1]["id"]) if more else None
        return SearchPage(hits, cursor, self.name)

    async def _logs(self, query: SearchQuery) -> SearchPage:
        sql = build_log_query(query)
        rows = await self._pool.fetch(sql.text, *sql.args)
        page = rows[: query.limit]
        hits = [
            SearchHit(
                kind="logs",
                task_id=r["task_id"],
                type=r["type"],
                status=r["status"],
                queue=r["queue"],
                score=r["score"],
                snippet=snippets.render(r["snippet"] or ""),
                at=r["at"],
                attempt=r["attempt"],
                seq=r["seq"],
                level=r["level"],
            )
            for r in page
        ]
        cursor = None
        if len(rows) > query.limit:
            last = page[-1]
            cursor = encode_cursor(
                "logs", last["score"], [last["task_id"], last["attempt"], last["seq"]]
            )
        return SearchPage(hits, cursor, self.name)
