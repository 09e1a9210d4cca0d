"""The queue read models, written inside the projector's batch transaction.

`apply_queue_models` runs in `postgres._apply` after the task rows: it records new
(tenant, queue) pairs in `queues`, adds the batch's statistics to `queue_stats`, and
returns the counters' change with the checkpoints the batch moves from and to, for the
Redis writer (`projections.redis_counters`) to apply once the transaction committed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg
import orjson

from projections.counters import CounterDelta, counter_delta
from projections.fold import FoldResult
from projections.queue_stats import StatKey, StatRow, add_stats, fold_stats, stat_records

_UPSERT_QUEUES = """
INSERT INTO queues (tenant, queue, first_seen_at)
SELECT r.tenant, r.queue, r.first_seen_at
FROM json_to_recordset($1::json) AS r(tenant text, queue text, first_seen_at timestamptz)
ON CONFLICT (tenant, queue) DO UPDATE
SET first_seen_at = LEAST(queues.first_seen_at, EXCLUDED.first_seen_at)
WHERE EXCLUDED.first_seen_at < queues.first_seen_at
"""


def _hist_sum(column: str) -> str:
    return (
        f"{column} = ARRAY(SELECT coalesce(a, 0) + coalesce(b, 0)"
        f" FROM unnest(queue_stats.{column}, EXCLUDED.{column}) WITH ORDINALITY AS u(a, b, i)"
        " ORDER BY i)"
    )


_COUNTS = (
    "submitted",
    "started",
    "succeeded",
    "failed",
    "retried",
    "dead_lettered",
    "cancelled",
    "redriven",
)
_SUMS = (*_COUNTS, "run_sum", "run_count", "wait_sum", "wait_count")

_UPSERT_STATS = f"""
INSERT INTO queue_stats (tenant, queue, bucket, {", ".join(_SUMS)}, run_hist, wait_hist)
SELECT r.tenant, r.queue, r.bucket, {", ".join("r." + c for c in _SUMS)}, r.run_hist, r.wait_hist
FROM json_to_recordset($1::json) AS r(
    tenant text, queue text, bucket timestamptz, {" int, ".join(_COUNTS)} int,
    run_sum numeric, run_count int, wait_sum numeric, wait_count int,
    run_hist int[], wait_hist int[])
ON CONFLICT (tenant, queue, bucket) DO UPDATE SET
    {", ".join(f"{c} = queue_stats.{c} + EXCLUDED.{c}" for c in _SUMS)},
    {_hist_sum("run_hist")}, {_hist_sum("wait_hist")}
"""

# The checkpoints this batch moves from, locked until the transaction ends so a second
# writer of the same partitions (two members in a rebalance) waits for this one.
_PREVIOUS = """
SELECT partition, "offset" FROM projection_checkpoints
WHERE projection = $1 AND partition = ANY($2::int[])
FOR UPDATE
"""


@dataclass(slots=True)
class QueueEffects:
    """What a batch did to the queue models; `counters` waits for Redis."""

    counters: CounterDelta = field(default_factory=CounterDelta)
    stat_rows: int = 0
    new_queues: int = 0
    # With `defer_stats`: the batch's statistics, for the caller to write later.
    stats: dict[StatKey, StatRow] = field(default_factory=dict)


def _json(rows: object) -> str:
    return orjson.dumps(rows).decode()


async def apply_queue_models(
    conn: asyncpg.Connection,
    projection: str,
    result: FoldResult,
    checkpoints: Mapping[int, int],
    *,
    counters: bool = True,
    defer_stats: bool = False,
) -> QueueEffects:
    """Queues, statistics and the counters' change of one batch (inside its transaction);
    without `counters`, the change for Redis is neither computed nor returned; with
    `defer_stats`, the statistics are returned in `stats` instead of written."""
    effects = QueueEffects()
    transitions = result.transitions
    if transitions:
        # The earliest appearance, kept the earliest by the upsert: the same whatever
        # the batch boundaries (a rebuild's differ from the live projector's).
        seen: dict[tuple[str, str], datetime] = {}
        for t in transitions:
            if t.before is None:
                key = (t.after.tenant, t.after.queue)
                at = t.event.occurred_at
                seen[key] = min(seen.get(key, at), at)
        if seen:
            rows = [{"tenant": k[0], "queue": k[1], "first_seen_at": v} for k, v in seen.items()]
            effects.new_queues = int(
                (await conn.execute(_UPSERT_QUEUES, _json(rows))).rsplit(" ", 1)[-1]
            )
        stats = fold_stats(transitions)
        if defer_stats:
            effects.stats = stats
        elif stats:
            effects.stat_rows = await write_stats(conn, stats)
        if counters:
            effects.counters.counts = counter_delta(transitions)
    if checkpoints and counters:
        parts = sorted(checkpoints)
        rows = await conn.fetch(_PREVIOUS, projection, parts)
        before = {r["partition"]: r["offset"] for r in rows}
        effects.counters.partitions = {p: (before.get(p, -1), checkpoints[p]) for p in parts}
    return effects


async def write_stats(
    conn: asyncpg.Connection,
    rows: Mapping[StatKey, StatRow],
    *,
    chunk: int = 5_000,
    table: str = "queue_stats",
) -> int:
    """Add `rows` into `queue_stats` (or append them to `table`, a `STAT_PARTS` table, which
    has no key); returns how many rows were written."""
    records = stat_records(rows)
    statement = _UPSERT_STATS if table == "queue_stats" else _APPEND_PARTS.format(table=table)
    for start in range(0, len(records), chunk):
        await conn.execute(statement, _json(records[start : start + chunk]))
    return len(records)


# A bulk load's statistics: each batch appends its rows to this table (created by the
# load, keyless, in the same transaction as the batch's checkpoints, so a load that
# stops and resumes has them for exactly the batches it kept); the load sums them into
# `queue_stats` once at its end (`merge_stat_parts`) and drops the table.
STAT_PARTS = "replay_stat_parts"
_APPEND_PARTS = _UPSERT_STATS.replace("queue_stats", "{table}", 1).split("ON CONFLICT", 1)[0]


async def create_stat_parts(conn: asyncpg.Connection) -> None:
    """Create the `STAT_PARTS` table beside `queue_stats` (same columns, no key)."""
    await conn.execute(f"CREATE TABLE IF NOT EXISTS {STAT_PARTS} (LIKE queue_stats)")


def _row(r: Mapping[str, Any]) -> StatRow:
    return StatRow(
        counts={name: r[name] for name in _COUNTS},
        run_us=int(r["run_sum"] * 1_000_000),  # numeric: exact
        run_count=r["run_count"],
        run_hist=list(r["run_hist"]),
        wait_us=int(r["wait_sum"] * 1_000_000),
        wait_count=r["wait_count"],
        wait_hist=list(r["wait_hist"]),
    )


async def merge_stat_parts(conn: asyncpg.Connection) -> int:
    """Sum the `STAT_PARTS` rows into `queue_stats` and drop the table (call inside a
    transaction); returns the rows written (0 when there is no such table)."""
    if await conn.fetchval("SELECT to_regclass($1)", STAT_PARTS) is None:
        return 0
    total: dict[StatKey, StatRow] = {}
    for r in await conn.fetch(f"SELECT * FROM {STAT_PARTS}"):
        add_stats(total, [((r["tenant"], r["queue"], r["bucket"]), _row(r))])
    written = await write_stats(conn, total) if total else 0
    await conn.execute(f"DROP TABLE {STAT_PARTS}")
    return written
