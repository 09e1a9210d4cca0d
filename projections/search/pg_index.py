"""Writing `task_search` rows with the projector's batch (same transaction).

A task's searchable text (type, labels, payload, attempt errors) is set at submit and
changes only when an attempt ends with an error, so a row is written only for tasks new
to the batch or whose errors changed: about one write per task instead of one per event.
Rows carry the task version; an older write never replaces a newer one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import asyncpg

from projections.search.text import bounded_join, leaf_text
from taskstream.domain.state import TaskState

DEFAULT_MAX_CHARS = 32_768

_UPSERT = """
INSERT INTO task_search (task_id, tenant, version, document)
SELECT r.task_id, r.tenant, r.version,
       setweight(to_tsvector('simple', r.type), 'A')
    || setweight(to_tsvector('simple', r.labels), 'B')
    || setweight(to_tsvector('simple', r.errors), 'B')
    || setweight(to_tsvector('simple', r.payload), 'C')
FROM json_to_recordset($1::json) AS r(
    task_id text, tenant text, version int, type text, labels text, errors text, payload text)
ON CONFLICT (task_id) DO UPDATE SET
    tenant = EXCLUDED.tenant, version = EXCLUDED.version, document = EXCLUDED.document
WHERE task_search.version < EXCLUDED.version
"""


# Every task row's document from its stored state, in SQL (as migration 0006 backfills):
# for a rebuild that loads `tasks` without `apply_batch` (COPY), run after the load.
_REINDEX_ALL = """
INSERT INTO task_search (task_id, tenant, version, document)
SELECT t.id, t.tenant, t.version,
       setweight(to_tsvector('simple', t.type), 'A')
    || setweight(jsonb_to_tsvector(
           'simple', coalesce(t.state->'labels', '{}'), '["key", "string"]'), 'B')
    || setweight(to_tsvector('simple', left(coalesce(
           (SELECT string_agg(concat_ws(' ', a->>'error', a->>'traceback'), ' ')
            FROM jsonb_array_elements(t.state->'attempts') AS a), ''), $1)), 'B')
    || setweight(to_tsvector('simple', left(taskstream_json_text(t.state->'payload'), $1)), 'C')
FROM tasks t
ON CONFLICT (task_id) DO UPDATE SET
    tenant = EXCLUDED.tenant, version = EXCLUDED.version, document = EXCLUDED.document
"""


async def reindex_all(conn: asyncpg.Connection, *, max_chars: int = DEFAULT_MAX_CHARS) -> int:
    """Rebuild every `task_search` row from `tasks` (after a bulk load); returns the rows."""
    status = await conn.execute(_REINDEX_ALL, max_chars)
    return int(status.rsplit(" ", 1)[-1])


def _errors(state: TaskState) -> list[str]:
    return [text for a in state.attempts for text in (a.error, a.traceback) if text]


def search_rows(
    stored: Mapping[str, TaskState], changed: Iterable[TaskState], *, max_chars: int
) -> list[dict[str, Any]]:
    """Rows for the changed tasks whose searchable text is new or different (pure)."""
    rows = []
    for state in changed:
        before = stored.get(state.id)
        errors = _errors(state)
        if before is not None and _errors(before) == errors:
            continue
        rows.append(
            {
                "task_id": state.id,
                "tenant": state.tenant,
                "version": state.version,
                "type": state.type,
                "labels": bounded_join(
                    [p for k, v in state.labels.items() for p in (k, v)], max_chars
                ),
                "errors": bounded_join(errors, max_chars),
                "payload": bounded_join(leaf_text(state.payload), max_chars),
            }
        )
    return rows


async def write_search(
    conn: asyncpg.Connection,
    rows: list[dict[str, Any]],
    encode: Callable[[list[dict[str, Any]]], str],
) -> None:
    """Upsert `rows` on `conn` (inside the batch's transaction)."""
    if rows:
        await conn.execute(_UPSERT, encode(rows))
