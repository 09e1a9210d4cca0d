"""Applying a batch of events to Postgres: archive, tasks, attempts, checkpoints; one transaction.

Rows go in as one JSON document per table (`json_to_recordset`): one round trip and one
parameter whatever the batch size, serialized by orjson in C and parsed by Postgres on
its own core, which measured faster than binding a dozen arrays. No statement depends
on the pool's type codecs.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

import asyncpg
import orjson

from projections.aggregate_fold import split_aggregates
from projections.attempts import attempt_changes, write_attempts
from projections.fold import FoldResult, affected_task_ids, fold_batch, fold_extras, state_from_dict
from projections.locks import share_batch_lock
from projections.queue_models import QueueEffects, apply_queue_models
from projections.queue_settings import apply_queues
from projections.schedules import apply_schedules
from projections.search.pg_index import DEFAULT_MAX_CHARS, search_rows, write_search
from taskstream.domain.envelope import Envelope
from taskstream.domain.state import TaskState

log = logging.getLogger(__name__)

_INSERT_EVENTS = """
INSERT INTO task_events (event_id, task_id, version, type, tenant, occurred_at, causation_id,
                         correlation_id, payload, schema_version, partition, "offset")
SELECT r.event_id, r.task_id, r.version, r.type, r.tenant, r.occurred_at, r.causation_id,
       r.correlation_id, r.payload, r.schema_version, r.partition, r."offset"
FROM json_to_recordset($1::json) AS r(
    event_id text, task_id text, version int, type text, tenant text, occurred_at timestamptz,
    causation_id text, correlation_id text, payload json, schema_version int, partition int,
    "offset" bigint)
ON CONFLICT (event_id) DO NOTHING
"""

_LOAD_TASKS = "SELECT state::text AS state, fold::text AS fold FROM tasks WHERE id = ANY($1)"

_UPSERT_TASKS = """
INSERT INTO tasks (id, tenant, queue, type, status, priority, version, created_at, updated_at,
                   run_at, attempts, state, fold)
SELECT r.id, r.tenant, r.queue, r.type, r.status, r.priority, r.version, r.created_at,
       r.updated_at, r.run_at, r.attempts, r.state, r.fold
FROM json_to_recordset($1::json) AS r(
    id text, tenant text, queue text, type text, status text, priority smallint, version int,
    created_at timestamptz, updated_at timestamptz, run_at timestamptz, attempts int,
    state jsonb, fold jsonb)
ON CONFLICT (id) DO UPDATE SET
    tenant = EXCLUDED.tenant, queue = EXCLUDED.queue, type = EXCLUDED.type,
    status = EXCLUDED.status, priority = EXCLUDED.priority, version = EXCLUDED.version,
    created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at,
    run_at = EXCLUDED.run_at, attempts = EXCLUDED.attempts, state = EXCLUDED.state,
    fold = EXCLUDED.fold
WHERE tasks.version < EXCLUDED.version
"""

_SAVE_CHECKPOINTS = """
INSERT INTO projection_checkpoints (projection, partition, "offset", updated_at)
SELECT $1, u.partition, u.off, now() FROM unnest($2::int[], $3::bigint[]) AS u(partition, off)
ON CONFLICT (projection, partition) DO UPDATE
SET "offset" = EXCLUDED."offset", updated_at = EXCLUDED.updated_at
"""


class Positioned(NamedTuple):
    """An event with where it was read: its partition and offset in the events topic.

    A named tuple: one is made per record, at half the cost of a frozen dataclass.
    """

    event: Envelope
    partition: int
    offset: int


@dataclass(frozen=True, slots=True)
class Applied:
    """What one applied batch did."""

    events: int
    archived: int
    tasks_updated: int
    fold: FoldResult
    seconds: float
    sanitized: bool = False
    queues: QueueEffects = field(default_factory=QueueEffects)


# A JSON escape of U+0000 that is not itself an escaped backslash.
_NUL = re.compile(r"(?<!\\)((?:\\\\)*)\\u0000")


def _default(value: object) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)


def encode_rows(rows: list[dict[str, Any]], *, no_nul: bool) -> str:
    """Rows as one JSON array for `json_to_recordset` (U+0000 escapes replaced if asked)."""
    try:
        doc = orjson.dumps(rows).decode()
    except TypeError:  # orjson.JSONEncodeError: an integer beyond 64 bits
        doc = json.dumps(rows, default=_default, ensure_ascii=False)
    # Postgres text and jsonb cannot hold U+0000: replaced in the archive's rows always
    # (`_event_rows`), in the others once Postgres refused a batch.
    return without_nul(doc) if no_nul else doc


def without_nul(doc: str) -> str:
    """JSON text with every U+0000 escape replaced by U+FFFD's (pure)."""
    return _NUL.sub(lambda m: m.group(1) + "\\ufffd", doc) if "\\u0000" in doc else doc


def _event_rows(batch: Sequence[Positioned]) -> str:
    """Archive rows, always without U+0000: `json` would keep it, but an archive row must
    not depend on whether its batch was refused for another row's (as with jsonb)."""
    return encode_rows(
        [
            {
                "event_id": (ev := item.event).event_id,
                "task_id": ev.task_id,
                "version": ev.version,
                "type": ev.type,
                "tenant": ev.tenant,
                "occurred_at": ev.occurred_at,
                "causation_id": ev.causation_id,
                "correlation_id": ev.correlation_id,
                "payload": ev.payload,
                "schema_version": ev.schema_version,
                "partition": item.partition,
                "offset": item.offset,
            }
            for item in batch
        ],
        no_nul=True,
    )


def _task_rows(states: Iterable[TaskState], *, no_nul: bool = False) -> str:
    return encode_rows(
        [
            {
                "id": s.id,
                "tenant": s.tenant,
                "queue": s.queue,
                "type": s.type,
                "status": s.status.value,
                "priority": s.priority,
                "version": s.version,
                "created_at": s.created_at,
                "updated_at": s.updated_at,
                "run_at": s.run_at,
                "attempts": len(s.attempts),
                # Times as datetimes: orjson (and `_default`) write them as isoformat does.
                "state": s.as_dict(native_times=True),
                "fold": fold_extras(s),
            }
            for s in states
        ],
        no_nul=no_nul,
    )


async def load_states(
    db: asyncpg.Pool | asyncpg.Connection, task_ids: Sequence[str]
) -> dict[str, TaskState]:
    """The stored states of `task_ids` that exist."""
    if not task_ids:
        return {}
    rows = await db.fetch(_LOAD_TASKS, list(task_ids))
    states = (state_from_dict(orjson.loads(r["state"]), orjson.loads(r["fold"])) for r in rows)
    return {s.id: s for s in states}


def _count(status: str) -> int:
    return int(status.rsplit(" ", 1)[-1])


async def apply_batch(
    pool: asyncpg.Pool,
    projection: str,
    batch: Sequence[Positioned],
    checkpoints: Mapping[int, int],
    *,
    search_max_chars: int = DEFAULT_MAX_CHARS,
) -> Applied:
    """Archive `batch`, fold it into `tasks` and save `checkpoints`, in one transaction.

    `checkpoints` maps each partition to the last offset this batch covers (records that
    went to the dead-letter topic included). Re-applying a batch changes nothing.

    A batch that Postgres refuses for a U+0000 character (text and jsonb cannot hold
    it) is applied again with U+FFFD in its place, and reported as `sanitized`, so one
    such string does not stall the partition.
    """
    try:
        return await _apply(
            pool, projection, batch, checkpoints, no_nul=False, max_chars=search_max_chars
        )
    except asyncpg.UntranslatableCharacterError as exc:
        log.warning(
            "batch holds U+0000, stored as U+FFFD",
            extra={"error": str(exc), "events": len(batch)},
        )
        return await _apply(
            pool, projection, batch, checkpoints, no_nul=True, max_chars=search_max_chars
        )


async def _apply(
    pool: asyncpg.Pool,
    projection: str,
    batch: Sequence[Positioned],
    checkpoints: Mapping[int, int],
    *,
    no_nul: bool,
    max_chars: int,
) -> Applied:
    # The stored states are read on a second connection while the archive insert runs,
    # so the fold overlaps it. That read may be older than a concurrent writer's commit
    # (two members during a rebalance); the upsert's version guard keeps the newer row.
    started = time.perf_counter()
    # Schedules share the log and the archive; they fold into their own table.
    events, schedule_events, queue_events = split_aggregates([item.event for item in batch])
    event_rows = _event_rows(batch)
    async with pool.acquire() as conn, conn.transaction():
        await share_batch_lock(conn)  # a rebuild's switch-over runs between batches
        insert = asyncio.ensure_future(conn.execute(_INSERT_EVENTS, event_rows))
        try:
            stored = await load_states(pool, affected_task_ids(events))
            result = fold_batch(stored, events)
            task_rows = _task_rows(result.changed.values(), no_nul=no_nul)
            attempts = attempt_changes(stored, result.changed.values())
            searchable = search_rows(stored, result.changed.values(), max_chars=max_chars)
        finally:
            archived = _count(await insert)
        updated = 0
        if result.changed:
            updated = _count(await conn.execute(_UPSERT_TASKS, task_rows))
            await write_attempts(conn, attempts, lambda rows: encode_rows(rows, no_nul=no_nul))
            await write_search(conn, searchable, lambda rows: encode_rows(rows, no_nul=no_nul))
        if schedule_events:
            updated += await apply_schedules(conn, schedule_events)
        if queue_events:
            updated += await apply_queues(conn, queue_events)
        queues = await apply_queue_models(conn, projection, result, checkpoints)
        if checkpoints:
            parts = sorted(checkpoints)
            await conn.execute(
                _SAVE_CHECKPOINTS, projection, parts, [checkpoints[p] for p in parts]
            )
    seconds = time.perf_counter() - started
    return Applied(len(batch), archived, updated, result, seconds, sanitized=no_nul, queues=queues)


async def load_checkpoints(
    pool: asyncpg.Pool, projection: str, partitions: Sequence[int]
) -> dict[int, int]:
    """Last applied offset of each of `partitions` that has one."""
    rows = await pool.fetch(
        'SELECT partition, "offset" FROM projection_checkpoints'
        " WHERE projection = $1 AND partition = ANY($2::int[])",
        projection,
        list(partitions),
    )
    return {r["partition"]: r["offset"] for r in rows}


async def connect_pool(
    dsn: str, *, wait_seconds: float = 60.0, min_size: int = 1, max_size: int = 4
) -> asyncpg.Pool:
    """A pool on `dsn`, retrying while Postgres starts (up to `wait_seconds`)."""
    deadline = time.monotonic() + wait_seconds
    attempt = 0
    while True:
        attempt += 1
        try:
            pool: asyncpg.Pool = await asyncpg.create_pool(
                dsn, min_size=min_size, max_size=max_size, timeout=10
            )
            return pool
        except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
            if time.monotonic() >= deadline:
                log.error("postgres unreachable, giving up", extra={"error": repr(exc)})
                raise
            log.warning(
                "postgres not reachable yet, retrying",
                extra={"attempt": attempt, "error": repr(exc)},
            )
            await asyncio.sleep(min(2.0, 0.25 * attempt))
