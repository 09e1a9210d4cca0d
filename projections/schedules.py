"""The schedules read model: schedule events folded into the `schedules` table.

Runs inside the projector's batch transaction (see `projections.postgres`), so the rows
and the checkpoint commit together. Idempotent by version like the tasks: an event at
or below the stored version is a duplicate, and the upsert only moves a row forward.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import asyncpg
import orjson

from projections.aggregate_fold import fold_aggregates
from taskstream.domain import events as e
from taskstream.domain.envelope import Envelope
from taskstream.domain.schedule import evolve
from taskstream.domain.schedule_model import ScheduleState

log = logging.getLogger(__name__)

_LOAD = "SELECT state::text AS state FROM schedules WHERE id = ANY($1)"

_UPSERT = """
INSERT INTO schedules (id, tenant, cron, timezone, template, misfire, jitter, paused, deleted,
                       next_due_at, last_fired_at, fired_count, version, created_at, state)
SELECT r.id, r.tenant, r.cron, r.timezone, r.template, r.misfire, r.jitter, r.paused,
       r.deleted, r.next_due_at, r.last_fired_at, r.fired_count, r.version, r.created_at,
       r.state
FROM json_to_recordset($1::json) AS r(
    id text, tenant text, cron text, timezone text, template jsonb, misfire text,
    jitter double precision, paused boolean, deleted boolean, next_due_at timestamptz,
    last_fired_at timestamptz, fired_count int, version int, created_at timestamptz,
    state jsonb)
ON CONFLICT (id) DO UPDATE SET
    paused = EXCLUDED.paused, deleted = EXCLUDED.deleted,
    next_due_at = EXCLUDED.next_due_at, last_fired_at = EXCLUDED.last_fired_at,
    fired_count = EXCLUDED.fired_count, version = EXCLUDED.version, state = EXCLUDED.state
WHERE schedules.version < EXCLUDED.version
"""


def _ts(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def state_from_dict(d: dict[str, Any]) -> ScheduleState:
    """A `ScheduleState` from its `as_dict()` form (`seen_commands` empty: only the
    scheduler's `decide` reads them)."""
    return ScheduleState(
        id=d["id"],
        tenant=d["tenant"],
        cron=d["cron"],
        timezone=d["timezone"],
        template=dict(d["template"]),
        misfire=d["misfire"],
        jitter_seconds=float(d["jitter_seconds"]),
        paused=d["paused"],
        created_at=datetime.fromisoformat(d["created_at"]),
        updated_at=datetime.fromisoformat(d["updated_at"]),
        version=d["version"],
        next_due_at=_ts(d.get("next_due_at")),
        deleted=d["deleted"],
        last_due_at=_ts(d.get("last_due_at")),
        last_fired_at=_ts(d.get("last_fired_at")),
        last_task_id=d.get("last_task_id"),
        last_run_at=_ts(d.get("last_run_at")),
        fired_count=d["fired_count"],
        skipped_count=d["skipped_count"],
        correlation_id=d.get("correlation_id"),
    )


def fold_schedules(
    stored: dict[str, ScheduleState], events: Iterable[Envelope]
) -> dict[str, ScheduleState]:
    """The schedules `events` moved forward (see `fold_aggregates`)."""
    return fold_aggregates(stored, events, evolve, "schedule")


def _rows(states: Iterable[ScheduleState]) -> str:
    return orjson.dumps(
        [
            {
                "id": s.id,
                "tenant": s.tenant,
                "cron": s.cron,
                "timezone": s.timezone,
                "template": s.template,
                "misfire": s.misfire,
                "jitter": s.jitter_seconds,
                "paused": s.paused,
                "deleted": s.deleted,
                "next_due_at": s.next_due_at,
                "last_fired_at": s.last_fired_at,
                "fired_count": s.fired_count,
                "version": s.version,
                "created_at": s.created_at,
                "state": s.as_dict(),
            }
            for s in states
        ]
    ).decode()


async def apply_schedules(conn: asyncpg.Connection, events: Sequence[Envelope]) -> int:
    """Fold schedule `events` into the table on `conn` (inside the batch's transaction);
    returns the rows written."""
    ids = list(dict.fromkeys(ev.task_id for ev in events if ev.type != e.COMMAND_REJECTED))
    if not ids:
        return 0
    rows = await conn.fetch(_LOAD, ids)
    stored = {s.id: s for s in (state_from_dict(orjson.loads(r["state"])) for r in rows)}
    changed = fold_schedules(stored, events)
    if not changed:
        return 0
    status = await conn.execute(_UPSERT, _rows(changed.values()))
    return int(status.rsplit(" ", 1)[-1])
