"""The queue settings read model: queue events folded into `queue_settings`.

Runs inside the projector's batch transaction (see `projections.postgres`), so the rows
and the checkpoint commit together. Idempotent by version: an event at or below the
stored version is a duplicate, and the upsert only moves a row forward.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

import asyncpg
import orjson

from projections.aggregate_fold import fold_aggregates
from taskstream.domain import events as e
from taskstream.domain.envelope import Envelope
from taskstream.domain.queue import evolve
from taskstream.domain.queue_model import QueueState, parse_queue_id

log = logging.getLogger(__name__)

_LOAD = """
SELECT tenant, queue, paused, concurrency_limit, version, updated_at
FROM queue_settings WHERE (tenant, queue) IN (SELECT * FROM unnest($1::text[], $2::text[]))
"""

_UPSERT = """
INSERT INTO queue_settings (tenant, queue, paused, concurrency_limit, version, updated_at)
SELECT r.tenant, r.queue, r.paused, r.concurrency_limit, r.version, r.updated_at
FROM json_to_recordset($1::json) AS r(
    tenant text, queue text, paused boolean, concurrency_limit int, version int,
    updated_at timestamptz)
ON CONFLICT (tenant, queue) DO UPDATE SET
    paused = EXCLUDED.paused, concurrency_limit = EXCLUDED.concurrency_limit,
    version = EXCLUDED.version, updated_at = EXCLUDED.updated_at
WHERE queue_settings.version < EXCLUDED.version
"""


def fold_queues(stored: dict[str, QueueState], events: Iterable[Envelope]) -> dict[str, QueueState]:
    """The queues `events` moved forward (see `fold_aggregates`)."""
    return fold_aggregates(stored, events, evolve, "queue")


async def apply_queues(conn: asyncpg.Connection, events: Sequence[Envelope]) -> int:
    """Fold queue `events` into the table on `conn` (inside the batch's transaction);
    returns the rows written."""
    keys: list[tuple[str, str]] = []
    for ev in events:
        if ev.type == e.COMMAND_REJECTED:
            continue
        try:
            keys.append(parse_queue_id(ev.task_id))
        except ValueError:
            continue
    if not keys:
        return 0
    keys = list(dict.fromkeys(keys))
    rows = await conn.fetch(_LOAD, [k[0] for k in keys], [k[1] for k in keys])
    stored = {
        f"que_{r['tenant']}:{r['queue']}": QueueState(
            id=f"que_{r['tenant']}:{r['queue']}",
            tenant=r["tenant"],
            queue=r["queue"],
            paused=r["paused"],
            limit=r["concurrency_limit"],
            version=r["version"],
            updated_at=r["updated_at"],
        )
        for r in rows
    }
    changed = fold_queues(stored, events)
    if not changed:
        return 0
    doc = orjson.dumps(
        [
            {
                "tenant": s.tenant,
                "queue": s.queue,
                "paused": s.paused,
                "concurrency_limit": s.limit,
                "version": s.version,
                "updated_at": s.updated_at,
            }
            for s in changed.values()
        ]
    ).decode()
    status = await conn.execute(_UPSERT, doc)
    return int(status.rsplit(" ", 1)[-1])
