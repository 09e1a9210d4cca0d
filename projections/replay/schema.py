"""Shadow schemas: a fresh copy of the read model beside the live one, and the switch-over.

A shadow is a new schema migrated with the same files as the live one: the migrations
name tables unqualified, so a connection whose `search_path` starts with the shadow
builds its own copy, including tables other features add later. The switch moves tables
(`ALTER TABLE … SET SCHEMA`) rather than renaming schemas, so extensions and anything
else living in the live schema stay where they are.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from projections.migrate import MIGRATIONS_DIR, migrate
from projections.replay.timestamps import use_microseconds

_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
# Tables never moved by a switch: identical on both sides by construction.
NEVER_SWAPPED = frozenset({"schema_migrations"})
CHECKPOINTS = "projection_checkpoints"
# Marks a schema `create_shadow` made, so that only such a schema is ever resumed.
SHADOW_COMMENT = "taskstream replay shadow"


def ident(name: str) -> str:
    """`name` as a quoted identifier, after checking it is a plain lower-case name."""
    if not _NAME.match(name):
        raise ValueError(f"not a plain schema or table name: {name!r}")
    return f'"{name}"'


def search_path(schema: str, live: str) -> str:
    """The shadow first, then the live schema (for extensions' types and operators only:
    every table the code names exists in the shadow)."""
    return f"{ident(schema)}, {ident(live)}"


async def live_schema(conn: asyncpg.Connection | asyncpg.Pool) -> str:
    """The schema the live model's unqualified names resolve to."""
    name: str = await conn.fetchval("SELECT current_schema()")
    return name


async def create_shadow(
    dsn: str, schema: str, live: str, *, directory: Path = MIGRATIONS_DIR, max_size: int = 2
) -> asyncpg.Pool:
    """Create `schema` (it must not exist), migrate it, and return a pool that uses it."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f"CREATE SCHEMA {ident(schema)}")
        await conn.execute(f"COMMENT ON SCHEMA {ident(schema)} IS '{SHADOW_COMMENT}'")
    finally:
        await conn.close()
    pool = await shadow_pool(dsn, schema, live, max_size=max_size)
    await migrate(pool, directory)
    return pool


async def is_shadow(conn: asyncpg.Connection, schema: str) -> bool:
    """True if `schema` exists and `create_shadow` made it."""
    comment = await conn.fetchval(
        "SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = $1",
        schema,
    )
    return bool(comment == SHADOW_COMMENT)


async def shadow_pool(dsn: str, schema: str, live: str, *, max_size: int = 2) -> asyncpg.Pool:
    """A pool whose unqualified names resolve to `schema` (and whose connections write
    `timestamptz` the replay's faster way: `timestamps.py`)."""
    pool: asyncpg.Pool = await asyncpg.create_pool(
        dsn,
        min_size=1,
        max_size=max_size,
        server_settings={"search_path": search_path(schema, live)},
        init=use_microseconds,
    )
    return pool


async def drop_schema(dsn: str, schema: str) -> None:
    """Drop `schema` and everything in it."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f"DROP SCHEMA IF EXISTS {ident(schema)} CASCADE")
    finally:
        await conn.close()


async def tables(conn: asyncpg.Connection | asyncpg.Pool, schema: str) -> list[str]:
    """The ordinary tables of `schema`, by name."""
    rows = await conn.fetch(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') ORDER BY c.relname",
        schema,
    )
    return [r["relname"] for r in rows]


async def drop_secondary_indexes(conn: asyncpg.Connection | asyncpg.Pool, schema: str) -> list[str]:
    """Drop the non-unique indexes of `schema`'s tables; returns the statements that
    create them again (`pg_get_indexdef`, schema-qualified).

    A bulk load into tables without them, then one sorted build per index, is several
    times cheaper than updating every index row by row. Unique indexes stay: the
    upserts' conflict targets need them.
    """
    rows = await conn.fetch(
        "SELECT ci.relname AS name, pg_get_indexdef(i.indexrelid) AS definition"
        " FROM pg_index i JOIN pg_class ci ON ci.oid = i.indexrelid"
        " JOIN pg_namespace n ON n.oid = ci.relnamespace"
        " WHERE n.nspname = $1 AND NOT i.indisunique AND NOT i.indisprimary"
        " ORDER BY ci.relname",
        schema,
    )
    for r in rows:
        await conn.execute(f"DROP INDEX {ident(schema)}.{ident(r['name'])}")
    return [r["definition"] for r in rows]


ARCHIVE_KEY = "task_events_pkey"

# Later copies of an archived event (the same id at a later position), which the live
# projector's `ON CONFLICT DO NOTHING` never stored.
_DEDUP_ARCHIVE = """
DELETE FROM {table} t USING (
    SELECT ctid, row_number() OVER (PARTITION BY event_id ORDER BY partition, "offset") AS n
    FROM {table}
) d
WHERE t.ctid = d.ctid AND d.n > 1
"""


async def drop_archive_key(conn: asyncpg.Connection | asyncpg.Pool, schema: str) -> bool:
    """Drop the archive's primary key for a bulk load; True if there was one.

    A COPY into `task_events` with the key in place spends most of its time on the
    key's random inserts (measured: 500,000 rows in 2.9-3.2 s with it, 1.2-1.3 s
    without, and 0.3-0.5 s to build it afterwards); `restore_archive_key` builds it
    once, sorted, after dropping any later copy of an event.
    """
    table = f"{ident(schema)}.task_events"
    exists = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM pg_constraint c JOIN pg_namespace n"
        " ON n.oid = c.connamespace WHERE n.nspname = $1 AND c.conname = $2)",
        schema,
        ARCHIVE_KEY,
    )
    if exists:
        await conn.execute(f"ALTER TABLE {table} DROP CONSTRAINT {ARCHIVE_KEY}")
    return bool(exists)


async def restore_archive_key(conn: asyncpg.Connection | asyncpg.Pool, schema: str) -> int:
    """Build the archive's primary key again; returns how many later copies of an event
    were dropped first (the live projector keeps the first by position)."""
    table = f"{ident(schema)}.task_events"
    add = f"ALTER TABLE {table} ADD CONSTRAINT {ARCHIVE_KEY} PRIMARY KEY (event_id)"
    try:
        await conn.execute(add)
        return 0
    except asyncpg.UniqueViolationError:
        status = await conn.execute(_DEDUP_ARCHIVE.format(table=table))
        await conn.execute(add)
        return int(status.rsplit(" ", 1)[-1])


Job = Callable[[asyncpg.Connection], Awaitable[object]]


async def create_indexes(
    pool: asyncpg.Pool, definitions: Iterable[str], *, first: Iterable[Job] = ()
) -> None:
    """Run the `first` jobs, then `definitions` (from `drop_secondary_indexes`), spread
    over the pool's connections so that work on different tables runs at once."""
    pending: list[Job | str] = [*first, *definitions]

    async def build() -> None:
        async with pool.acquire() as conn:
            await conn.execute("SET maintenance_work_mem = '256MB'")
            # Two tables build at once instead: with two cores, parallel builders of one
            # index only queue behind each other.
            await conn.execute("SET max_parallel_maintenance_workers = 0")
            while pending:
                job = pending.pop(0)
                await (conn.execute(job) if isinstance(job, str) else job(conn))

    await asyncio.gather(*(build() for _ in range(min(len(pending), pool.get_max_size()))))


# What a bulk load took away from the shadow, kept in the shadow until the load is done:
# a load that stops (a crash, Ctrl-C, a lost connection) and resumes builds them again.
BULK_STATE = "replay_bulk_state"


@dataclass(frozen=True, slots=True)
class BulkState:
    """The indexes a bulk load dropped (their definitions) and whether the archive's key
    was one of them."""

    indexes: tuple[str, ...]
    archive_keyed: bool


async def begin_bulk(conn: asyncpg.Connection, schema: str) -> BulkState:
    """Drop `schema`'s non-unique indexes and the archive's key for a bulk load, and
    record them in `BULK_STATE` (one transaction). If an earlier load of this shadow
    stopped, its record stands: what that load dropped is still to build, and whatever it
    had built again is dropped anew."""
    table = f"{ident(schema)}.{BULK_STATE}"
    async with conn.transaction():
        await conn.execute(
            f"CREATE TABLE IF NOT EXISTS {table} (indexes text[] NOT NULL, archive_keyed boolean"
            " NOT NULL)"
        )
        row = await conn.fetchrow(f"SELECT indexes, archive_keyed FROM {table}")
        dropped = await drop_secondary_indexes(conn, schema)
        keyed = await drop_archive_key(conn, schema)
        if row is not None:
            return BulkState(tuple(row["indexes"]), bool(row["archive_keyed"]) or keyed)
        await conn.execute(f"INSERT INTO {table} VALUES ($1, $2)", dropped, keyed)
    return BulkState(tuple(dropped), keyed)


async def bulk_pending(conn: asyncpg.Connection | asyncpg.Pool, schema: str) -> bool:
    """True while a bulk load of `schema` has indexes still to build (`begin_bulk`)."""
    found = await conn.fetchval("SELECT to_regclass($1)", f"{ident(schema)}.{BULK_STATE}")
    return found is not None


async def end_bulk(conn: asyncpg.Connection | asyncpg.Pool, schema: str) -> None:
    """Forget the bulk load's record (once its indexes are built again)."""
    await conn.execute(f"DROP TABLE IF EXISTS {ident(schema)}.{BULK_STATE}")


async def non_empty(conn: asyncpg.Connection, schema: str, names: Iterable[str]) -> set[str]:
    """Which of the tables `names` of `schema` hold at least one row."""
    out = set()
    for name in names:
        if await conn.fetchval(f"SELECT EXISTS (SELECT 1 FROM {ident(schema)}.{ident(name)})"):
            out.add(name)
    return out


@dataclass(frozen=True, slots=True)
class SwitchPlan:
    """Which tables a switch moves, and which stay live because the rebuild left them empty."""

    swapped: tuple[str, ...]
    kept: tuple[str, ...]


def plan_switch(shadow_tables: Iterable[str], rebuilt: Iterable[str]) -> SwitchPlan:
    """Swap the tables the rebuild filled, and the checkpoints (pure).

    A table the rebuild left empty belongs to something else (another projection with its
    own checkpoints, a table not derived from these topics such as API keys): the live
    one stays in place, consistent with its own checkpoints, which the switch carries.
    """
    filled = set(rebuilt) | {CHECKPOINTS}
    names = sorted(set(shadow_tables) - NEVER_SWAPPED)
    return SwitchPlan(
        tuple(n for n in names if n in filled), tuple(n for n in names if n not in filled)
    )


def switch_statements(plan: SwitchPlan, live: str, shadow: str, old: str) -> list[str]:
    """DDL that moves live tables of `plan` to `old` and the shadow's into the live schema."""
    out = [f"CREATE SCHEMA {ident(old)}"]
    for name in plan.swapped:
        out.append(f"ALTER TABLE IF EXISTS {ident(live)}.{ident(name)} SET SCHEMA {ident(old)}")
        out.append(f"ALTER TABLE {ident(shadow)}.{ident(name)} SET SCHEMA {ident(live)}")
    return out


async def carry_checkpoints(
    conn: asyncpg.Connection, live: str, shadow: str, own: Iterable[str]
) -> int:
    """Copy the live checkpoints of every projection but `own` into the shadow; returns rows."""
    status = await conn.execute(
        f"INSERT INTO {ident(shadow)}.{CHECKPOINTS} SELECT * FROM {ident(live)}.{CHECKPOINTS}"
        " WHERE NOT (projection = ANY($1::text[]))"
        " ON CONFLICT (projection, partition) DO NOTHING",
        list(own),
    )
    return int(status.rsplit(" ", 1)[-1])


async def read_checkpoints(
    conn: asyncpg.Connection | asyncpg.Pool, schema: str, projection: str
) -> dict[int, int]:
    """Checkpoints of `projection` in `schema`."""
    rows = await conn.fetch(
        f'SELECT partition, "offset" FROM {ident(schema)}.{CHECKPOINTS} WHERE projection = $1',
        projection,
    )
    return {r["partition"]: r["offset"] for r in rows}


def remaining(targets: Mapping[int, int], done: Mapping[int, int]) -> int:
    """Records still to apply to reach `targets` from `done` (last offsets; -1: none)."""
    return sum(max(0, t - done.get(p, -1)) for p, t in targets.items())
