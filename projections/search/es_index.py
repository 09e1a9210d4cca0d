"""Indexing batches into Elasticsearch: task events folded into documents, log lines appended.

Both the live search projector and `rebuild_search` run these. A task batch reads the
stored documents of the tasks it touches (`mget`: their `state` and `fold`), folds the
events with the same `fold_batch` as the Postgres projection, and indexes each changed
task with its version as an external version: a replay or an older write loses with a
409, which is ignored. Log lines get their task's queue and type from the Postgres read
model (when the task is there), so log searches can filter on them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

from projections.aggregate_fold import split_aggregates
from projections.fold import affected_task_ids, fold_batch, state_from_dict
from projections.logs import LogLine
from projections.search import es_bulk
from projections.search.documents import log_action, task_action
from taskstream.domain.envelope import Envelope
from taskstream.domain.state import TaskState


async def _stored(client: Any, index: str, ids: list[str]) -> dict[str, TaskState]:
    if not ids:
        return {}
    try:
        resp = await client.mget(index=index, ids=ids, source_includes=["state", "fold"])
    except Exception as exc:
        if es_bulk._transient(exc):
            raise es_bulk.SearchIndexUnavailable(f"mget on {index} failed: {exc!r}") from exc
        raise
    out = {}
    for doc in resp.body["docs"]:
        if doc.get("found"):
            src = doc["_source"]
            out[doc["_id"]] = state_from_dict(src["state"], src.get("fold") or {})
    return out


async def index_events(
    client: Any,
    index: str,
    events: Sequence[Envelope],
    *,
    max_chars: int,
    retries: int,
    refresh: bool | str = False,
) -> es_bulk.BulkResult:
    """Fold `events` into the task documents of `index` (an alias or a physical index)."""
    tasks = split_aggregates(events)[0]  # schedules and queues have no task documents
    stored = await _stored(client, index, affected_task_ids(tasks))
    result = fold_batch(stored, tasks)
    actions = [task_action(index, s, max_chars=max_chars) for s in result.changed.values()]
    if not actions:
        return es_bulk.BulkResult(0, 0, 0)
    return await es_bulk.send(client, actions, retries=retries, refresh=refresh)


async def task_fields(pool: asyncpg.Pool | None, ids: list[str]) -> dict[str, tuple[str, str]]:
    """(queue, type) of each task of `ids` the Postgres read model has."""
    if pool is None or not ids:
        return {}
    rows = await pool.fetch("SELECT id, queue, type FROM tasks WHERE id = ANY($1::text[])", ids)
    return {r["id"]: (r["queue"], r["type"]) for r in rows}


async def index_lines(
    client: Any,
    prefix: str,
    lines: Sequence[LogLine],
    fields: dict[str, tuple[str, str]],
    *,
    retries: int,
    refresh: bool | str = False,
) -> es_bulk.BulkResult:
    """Append `lines` to their daily indices (a line already there is a 409, ignored)."""
    actions = []
    for line in lines:
        queue, type_ = fields.get(line.task_id, (None, None))
        actions.append(log_action(prefix, line, queue=queue, type=type_))
    if not actions:
        return es_bulk.BulkResult(0, 0, 0)
    return await es_bulk.send(client, actions, retries=retries, refresh=refresh)


_SAVE = """
INSERT INTO projection_checkpoints (projection, partition, "offset", updated_at)
SELECT $1, u.partition, u.off, now() FROM unnest($2::int[], $3::bigint[]) AS u(partition, off)
ON CONFLICT (projection, partition) DO UPDATE
SET "offset" = EXCLUDED."offset", updated_at = EXCLUDED.updated_at
"""


async def save_checkpoints(pool: asyncpg.Pool, name: str, checkpoints: dict[int, int]) -> None:
    """Record the last offset indexed of each partition, under checkpoint `name`."""
    if checkpoints:
        parts = sorted(checkpoints)
        await pool.execute(_SAVE, name, parts, [checkpoints[p] for p in parts])


def checkpoint_names(index: str) -> tuple[str, str]:
    """Checkpoint names of the events and logs consumers feeding tasks index `index`."""
    return f"search:{index}", f"search-logs:{index}"
