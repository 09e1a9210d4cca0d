"""The `task_attempts` table: attempts of the folded task states, written with the batch.

Only attempts that differ from the stored state are written, each row stamped with the
task version that wrote it, and an upsert only replaces an older row: so re-applying a
batch, or a concurrent older writer, never moves a row back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from taskstream.domain.state import TaskState

_UPSERT = """
INSERT INTO task_attempts (task_id, number, tenant, worker, started_at, finished_at, outcome,
                           error, traceback, version)
SELECT r.task_id, r.number, r.tenant, r.worker, r.started_at, r.finished_at, r.outcome,
       r.error, r.traceback, r.version
FROM json_to_recordset($1::json) AS r(
    task_id text, number int, tenant text, worker text, started_at timestamptz,
    finished_at timestamptz, outcome text, error text, traceback text, version int)
ON CONFLICT (task_id, number) DO UPDATE SET
    tenant = EXCLUDED.tenant, worker = EXCLUDED.worker, started_at = EXCLUDED.started_at,
    finished_at = EXCLUDED.finished_at, outcome = EXCLUDED.outcome, error = EXCLUDED.error,
    traceback = EXCLUDED.traceback, version = EXCLUDED.version
WHERE task_attempts.version < EXCLUDED.version
"""

# Attempts a newer state no longer has (a future redrive may reset them).
_PRUNE = """
DELETE FROM task_attempts a
USING json_to_recordset($1::json) AS r(task_id text, keep int[], version int)
WHERE a.task_id = r.task_id AND a.version < r.version AND NOT (a.number = ANY(r.keep))
"""


@dataclass(slots=True)
class AttemptChanges:
    """Rows to upsert and tasks whose attempt list shrank."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    prune: list[dict[str, Any]] = field(default_factory=list)


def attempt_changes(
    stored: Mapping[str, TaskState], changed: Iterable[TaskState]
) -> AttemptChanges:
    """What `task_attempts` needs so it matches the `changed` states (pure)."""
    out = AttemptChanges()
    for state in changed:
        before = stored.get(state.id)
        old = {a.number: a for a in before.attempts} if before else {}
        for a in state.attempts:
            if old.get(a.number) == a:
                continue
            out.rows.append(
                {
                    "task_id": state.id,
                    "tenant": state.tenant,
                    "version": state.version,
                    **a.as_dict(),
                }
            )
        keep = [a.number for a in state.attempts]
        if set(old) - set(keep):
            out.prune.append({"task_id": state.id, "keep": keep, "version": state.version})
    return out


async def write_attempts(
    conn: asyncpg.Connection,
    changes: AttemptChanges,
    encode: Callable[[list[dict[str, Any]]], str],
) -> None:
    """Apply `changes` on `conn` (inside the batch's transaction); `encode` makes the JSON."""
    if changes.rows:
        await conn.execute(_UPSERT, encode(changes.rows))
    if changes.prune:
        await conn.execute(_PRUNE, encode(changes.prune))
