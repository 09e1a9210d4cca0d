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

import asyncpg
import orjson

from projections.counters import CounterDelta, counter_delta
from projections.fold import FoldResult
from projections.queue_stats import StatKey, StatRow, fold_stats, stat_records

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
    conn: asyncpg.Connection, rows: Mapping[StatKey, StatRow], *, chunk: int = 5_000
) -> int:
    """Add `rows` into `queue_stats`; returns how many rows were written."""
    records = stat_records(rows)
    for start in range(0, len(records), chunk):
        await conn.execute(_UPSERT_STATS, _json(records[start : start + chunk]))
    return len(records)


# A bulk load's statistics: each batch appends its rows to this table as one document
# (in the same transaction as the batch's checkpoints, so a load that stops and resumes
# has them for exactly the batches it kept); the load sums them into `queue_stats` once
# at its end (`merge_stat_parts`) and drops the table. One `bytea` of JSON per batch,
# which Postgres neither parses nor compresses: as a row per minute and batch, each with
# two arrays, the parts of a million events took 30 MB more WAL and slowed the load;
# as documents they came to 7.7 MB (26 batches), summed in 0.4 s of CPU.
STAT_PARTS = "replay_stat_parts"


async def create_stat_parts(conn: asyncpg.Connection) -> None:
    """Create the `STAT_PARTS` table (in the schema first on `search_path`)."""
    await conn.execute(f"CREATE TABLE IF NOT EXISTS {STAT_PARTS} (stats bytea NOT NULL)")
    await conn.execute(f"ALTER TABLE {STAT_PARTS} ALTER COLUMN stats SET STORAGE EXTERNAL")


def _sparse(hist: list[int]) -> list[int]:
    """A histogram as [bin, count, bin, count, ...] of its non-empty bins."""
    return [x for k, n in enumerate(hist) if n for x in (k, n)]


def stat_part(rows: Mapping[StatKey, StatRow]) -> bytes:
    """One batch's statistics as a `STAT_PARTS` document (exact: microsecond integers;
    the histograms sparse, most of their bins being empty)."""
    doc = [
        [tenant, queue, bucket, [row.counts[name] for name in _COUNTS], row.run_us,
         row.run_count, _sparse(row.run_hist), row.wait_us, row.wait_count,
         _sparse(row.wait_hist)]
        for (tenant, queue, bucket), row in rows.items()
    ]  # fmt: skip
    return orjson.dumps(doc)


async def append_stat_part(conn: asyncpg.Connection, rows: Mapping[StatKey, StatRow]) -> None:
    """Append one batch's statistics to `STAT_PARTS`."""
    await conn.execute(f"INSERT INTO {STAT_PARTS} (stats) VALUES ($1)", stat_part(rows))


def add_part(total: dict[StatKey, StatRow], blob: bytes) -> None:
    """Add one `stat_part` document into `total`."""
    for item in orjson.loads(blob):
        tenant, queue, bucket, counts, run_us, run_n, run_h, wait_us, wait_n, wait_h = item
        key = (tenant, queue, datetime.fromisoformat(bucket))
        row = total.get(key)
        if row is None:
            row = total[key] = StatRow()
        for name, n in zip(_COUNTS, counts, strict=True):
            row.counts[name] += n
        row.run_us += run_us
        row.run_count += run_n
        row.wait_us += wait_us
        row.wait_count += wait_n
        for hist, sparse in ((row.run_hist, run_h), (row.wait_hist, wait_h)):
            for i in range(0, len(sparse), 2):
                hist[sparse[i]] += sparse[i + 1]


async def merge_stat_parts(conn: asyncpg.Connection) -> int:
    """Sum the `STAT_PARTS` documents into `queue_stats` and drop the table (call inside a
    transaction); returns the rows written (0 when there is no such table)."""
    if await conn.fetchval("SELECT to_regclass($1)", STAT_PARTS) is None:
        return 0
    total: dict[StatKey, StatRow] = {}
    for record in await conn.fetch(f"SELECT stats FROM {STAT_PARTS}"):
        add_part(total, record["stats"])
    written = await write_stats(conn, total) if total else 0
    await conn.execute(f"DROP TABLE {STAT_PARTS}")
    return written
