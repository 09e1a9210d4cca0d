"""Verify: rebuild into a shadow schema and compare it with the live model, row by row.

Every projector batch commits its rows with its checkpoints, so any snapshot of the live
model is consistent with its own checkpoints. Verify opens a repeatable-read snapshot of
the live model, brings the shadow to exactly that snapshot's checkpoints, and compares
the two while traffic goes on: the common cut needs no lock.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from projections.replay import schema as sc
from projections.replay.config import ReplaySettings
from projections.replay.diff import Difference, Row, compared_columns, diff_streams
from projections.replay.rebuild import OWN_TABLES, Progress, Replayer, stamp
from taskstream.settings import Settings

CHUNK = 5_000


@dataclass(slots=True)
class TableResult:
    """The comparison of one table."""

    table: str
    live_rows: int = 0
    rebuilt_rows: int = 0
    differences: int = 0
    shown: list[Difference] = field(default_factory=list)
    ignored: tuple[str, ...] = ()
    skipped: str | None = None


@dataclass(slots=True)
class VerifyReport:
    """Every table compared, and the cut (checkpoints) they were compared at."""

    tables: list[TableResult] = field(default_factory=list)
    checkpoints: dict[str, dict[int, int]] = field(default_factory=dict)
    events: int = 0
    lines: int = 0
    seconds: float = 0.0

    @property
    def differences(self) -> int:
        """Differences over all tables."""
        return sum(t.differences for t in self.tables)


async def _columns(conn: asyncpg.Connection, schema: str, table: str) -> dict[str, str]:
    """Column name to type name, in table order."""
    rows = await conn.fetch(
        "SELECT attname, atttypid::regtype::text AS type FROM pg_attribute"
        " WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
        f"{sc.ident(schema)}.{sc.ident(table)}",
    )
    return {r["attname"]: r["type"] for r in rows}


async def _primary_key(conn: asyncpg.Connection, schema: str, table: str) -> list[str]:
    rows = await conn.fetch(
        "SELECT a.attname FROM pg_index i"
        " JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, n) ON true"
        " JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum"
        " WHERE i.indrelid = $1::regclass AND i.indisprimary ORDER BY k.n",
        f"{sc.ident(schema)}.{sc.ident(table)}",
    )
    return [r["attname"] for r in rows]


def select_sorted(
    schema: str,
    table: str,
    columns: Sequence[str],
    key: Sequence[str],
    where: str = "",
    *,
    as_values: frozenset[str] = frozenset(),
) -> str:
    """Every row as column text, sorted by the key's text in byte order (Python's order).

    Columns in `as_values` (type `json`, which keeps the text it was given) are compared
    as values: through `jsonb`, so spacing and key order are not differences.
    """
    cols = ", ".join(
        f"{sc.ident(c)}::jsonb::text" if c in as_values else f"{sc.ident(c)}::text" for c in columns
    )
    order = ", ".join(f'{sc.ident(c)}::text COLLATE "C"' for c in key)
    return f"SELECT {cols} FROM {sc.ident(schema)}.{sc.ident(table)} {where} ORDER BY {order}"


async def _chunks(
    conn: asyncpg.Connection, query: str, args: Sequence[Any], count: list[int]
) -> AsyncIterator[list[Row]]:
    cursor = await conn.cursor(query, *args)
    while True:
        rows = await cursor.fetch(CHUNK)
        if not rows:
            return
        count[0] += len(rows)
        yield [tuple(r) for r in rows]


async def compare_table(
    live: asyncpg.Connection,
    shadow: asyncpg.Connection,
    live_schema: str,
    shadow_schema: str,
    table: str,
    *,
    projections: Sequence[str],
    show: int,
) -> TableResult:
    """Compare one table (checkpoints: only the rows of `projections`)."""
    types = await _columns(shadow, shadow_schema, table)
    all_columns = list(types)
    as_values = frozenset(c for c, t in types.items() if t == "json")
    key = await _primary_key(shadow, shadow_schema, table)
    columns = compared_columns(table, all_columns)
    result = TableResult(table, ignored=tuple(c for c in all_columns if c not in columns))
    if not key:
        result.skipped = "no primary key"
        return result
    where, args = "", []
    if table == sc.CHECKPOINTS:
        where, args = "WHERE projection = ANY($1::text[])", [list(projections)]
    n_live, n_shadow = [0], [0]

    def select(schema: str) -> str:
        return select_sorted(schema, table, columns, key, where, as_values=as_values)

    diffs = diff_streams(
        table,
        columns,
        key,
        _chunks(live, select(live_schema), args, n_live),
        _chunks(shadow, select(shadow_schema), args, n_shadow),
    )
    async for d in diffs:
        result.differences += 1
        if len(result.shown) < show:
            result.shown.append(d)
    result.live_rows, result.rebuilt_rows = n_live[0], n_shadow[0]
    return result


async def _compare_all(
    r: Replayer, live: asyncpg.Connection, shadow: asyncpg.Connection, show: int
) -> list[TableResult]:
    out: list[TableResult] = []
    names = await sc.tables(shadow, r.schema)
    live_names = set(await sc.tables(live, r.live_schema))
    filled = await sc.non_empty(shadow, r.schema, set(names) - OWN_TABLES)
    projections = [s.projection for s in r.streams]
    for name in names:
        if name in sc.NEVER_SWAPPED:
            continue
        if name not in live_names:
            out.append(TableResult(name, skipped="not in the live model"))
        elif name not in OWN_TABLES and name not in filled:
            rows = await live.fetchval(
                f"SELECT count(*) FROM {sc.ident(r.live_schema)}.{sc.ident(name)}"
            )
            why = "not rebuilt by this target (another projection's, or not from the log)"
            out.append(TableResult(name, live_rows=rows, skipped=why))
        else:
            out.append(
                await compare_table(
                    live, shadow, r.live_schema, r.schema, name, projections=projections, show=show
                )
            )
    return out


async def verify(
    settings: Settings,
    *,
    replay: ReplaySettings | None = None,
    progress: Progress | None = None,
    keep: bool = False,
) -> VerifyReport:
    """Rebuild into a shadow and report every difference from the live model."""
    replay = replay or ReplaySettings()
    r = Replayer(settings, f"replay_verify_{stamp()}", replay=replay, progress=progress)
    report = VerifyReport()
    try:
        await r.open()
        await r.bulk(await r.live_targets())
        await r.follow()
        assert r.live is not None and r.shadow is not None
        async with (
            r.live.acquire() as live,
            r.shadow.acquire() as shadow,
            live.transaction(isolation="repeatable_read", readonly=True),
        ):
            targets = await r.live_targets(live)  # the snapshot's cut
            await r.catch_up(r.shadow, targets)
            report.checkpoints = {s.projection: targets[s.name] for s in r.streams}
            async with shadow.transaction(isolation="repeatable_read", readonly=True):
                report.tables = await _compare_all(r, live, shadow, replay.replay_verify_show)
        done = r.report()
        report.events, report.lines, report.seconds = done.events, done.lines, done.seconds
        return report
    finally:
        await r.close()
        if not keep:
            await sc.drop_schema(settings.postgres_dsn, r.schema)
