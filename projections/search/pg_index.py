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

# A document from a row `r` of searchable text (weights: A type, B labels and errors,
# C payload), and the version guard: an older write never replaces a newer document.
_DOCUMENT = """
       setweight(to_tsvector('simple', r.type), 'A')
    || setweight(to_tsvector('simple', r.labels), 'B')
    || setweight(to_tsvector('simple', r.errors), 'B')
    || setweight(to_tsvector('simple', r.payload), 'C')
"""
_GUARDED = """
ON CONFLICT (task_id) DO UPDATE SET
    tenant = EXCLUDED.tenant, version = EXCLUDED.version, document = EXCLUDED.document
WHERE task_search.version < EXCLUDED.version
"""

_UPSERT = f"""
INSERT INTO task_search (task_id, tenant, version, document)
SELECT r.task_id, r.tenant, r.version, {_DOCUMENT}FROM json_to_recordset($1::json) AS r(
    task_id text, tenant text, version int, type text, labels text, errors text, payload text)
{_GUARDED}"""


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


SEARCH_COLUMNS = ("task_id", "tenant", "version", "type", "labels", "errors", "payload")


def search_records(
    stored: Mapping[str, TaskState], changed: Iterable[TaskState], *, max_chars: int
) -> list[tuple[Any, ...]]:
    """The searchable text of the changed tasks whose text is new or different, in
    `SEARCH_COLUMNS` order (pure)."""
    records = []
    for state in changed:
        before = stored.get(state.id)
        errors = _errors(state)
        if before is not None and _errors(before) == errors:
            continue
        records.append(
            (
                state.id,
                state.tenant,
                state.version,
                state.type,
                bounded_join([p for k, v in state.labels.items() for p in (k, v)], max_chars),
                bounded_join(errors, max_chars),
                bounded_join(leaf_text(state.payload), max_chars),
            )
        )
    return records


def search_rows(
    stored: Mapping[str, TaskState], changed: Iterable[TaskState], *, max_chars: int
) -> list[dict[str, Any]]:
    """`search_records` as the upsert's JSON rows."""
    return [
        dict(zip(SEARCH_COLUMNS, r, strict=True))
        for r in search_records(stored, changed, max_chars=max_chars)
    ]


async def write_search(
    conn: asyncpg.Connection,
    rows: list[dict[str, Any]],
    encode: Callable[[list[dict[str, Any]]], str],
) -> None:
    """Upsert `rows` on `conn` (inside the batch's transaction)."""
    if rows:
        await conn.execute(_UPSERT, encode(rows))


# A rebuild's bulk load appends each batch's searchable text to this table of its shadow
# (binary COPY, no index) instead of upserting documents, and `merge_search_parts` turns
# the newest text of each task into its document once, at the load's end: batch by
# batch, every document cost a JSON row to parse and a speculative insert into the key
# (175,438 documents: 0.8 s parsing, 0.5 s of conflict checks; a task's newest text is
# what the upserts' version guard would have left).
SEARCH_PARTS = "replay_search_parts"

_MERGE_PARTS = f"""
INSERT INTO task_search (task_id, tenant, version, document)
SELECT r.task_id, r.tenant, r.version, {_DOCUMENT}FROM (
    SELECT DISTINCT ON (task_id) * FROM {SEARCH_PARTS} ORDER BY task_id, version DESC
) AS r
{_GUARDED}"""


async def create_search_parts(conn: asyncpg.Connection) -> None:
    """Create the `SEARCH_PARTS` table (in the schema first on `search_path`)."""
    await conn.execute(
        f"CREATE TABLE IF NOT EXISTS {SEARCH_PARTS} (task_id text NOT NULL, tenant text NOT NULL,"
        " version integer NOT NULL, type text NOT NULL, labels text NOT NULL,"
        " errors text NOT NULL, payload text NOT NULL)"
    )


async def append_search_parts(conn: asyncpg.Connection, records: list[tuple[Any, ...]]) -> None:
    """Append `search_records` to `SEARCH_PARTS` (inside the batch's transaction)."""
    if records:
        await conn.copy_records_to_table(SEARCH_PARTS, records=records, columns=SEARCH_COLUMNS)


async def merge_search_parts(conn: asyncpg.Connection) -> int:
    """Write each task's document from its newest `SEARCH_PARTS` text (an older version
    never replaces a newer document) and drop the table; returns the documents written.
    Call inside a transaction."""
    if await conn.fetchval("SELECT to_regclass($1)", SEARCH_PARTS) is None:
        return 0
    status = await conn.execute(_MERGE_PARTS)
    await conn.execute(f"DROP TABLE {SEARCH_PARTS}")
    return int(status.rsplit(" ", 1)[-1])
