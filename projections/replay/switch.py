"""The switch-over, and the whole Postgres rebuild that ends with it.

The switch takes the projectors' batch lock (no batch is mid-flight, new ones wait),
applies the last records up to the live checkpoints, carries the other projections'
checkpoints and moves tables, all in one transaction; the live projector then continues
from the same checkpoints, with nothing lost and nothing applied twice.
"""

from __future__ import annotations

import logging

from projections.locks import hold_batch_lock
from projections.replay import schema as sc
from projections.replay.config import ReplaySettings
from projections.replay.rebuild import OWN_TABLES, Progress, RebuildReport, Replayer, stamp
from projections.replay.resume import check_resumable, keep_or_drop
from taskstream.settings import Settings

log = logging.getLogger(__name__)


async def switch_over(r: Replayer, *, keep_old: bool) -> RebuildReport:
    """Apply the last records and move the rebuilt tables live, in one transaction."""
    assert r.live is not None
    old = f"{r.live_schema}_old_{stamp()}"[:63]
    async with r.live.acquire() as conn:
        async with conn.transaction():
            await hold_batch_lock(conn)
            targets = await r.live_targets(conn)
            await conn.execute(
                f"SET LOCAL search_path TO {sc.search_path(r.schema, r.live_schema)}"
            )
            await r.catch_up(conn, targets)
            await conn.execute("SET LOCAL search_path TO DEFAULT")
            await sc.carry_checkpoints(
                conn, r.live_schema, r.schema, [s.projection for s in r.streams]
            )
            names = await sc.tables(conn, r.schema)
            filled = await sc.non_empty(conn, r.schema, set(names) - OWN_TABLES)
            plan = sc.plan_switch(names, filled | (OWN_TABLES & set(names)))
            for statement in sc.switch_statements(plan, r.live_schema, r.schema, old):
                await conn.execute(statement)
        # The shadow's own functions (migrations create some) may go with it unless
        # something moved live depends on one.
        leftovers = await conn.fetchval(
            "SELECT count(*) FROM pg_depend d JOIN pg_proc p ON p.oid = d.refobjid"
            " JOIN pg_namespace n ON n.oid = p.pronamespace"
            " WHERE d.refclassid = 'pg_proc'::regclass AND n.nspname = $1"
            " AND d.deptype = 'n'",
            r.schema,
        )
    report = r.report()
    report.switched = True
    report.swapped, report.kept = plan.swapped, plan.kept
    if leftovers:
        log.warning(
            "live objects use functions of the shadow schema; it is kept",
            extra={"schema": r.schema},
        )
    else:
        await sc.drop_schema(r.settings.postgres_dsn, r.schema)
    if keep_old:
        report.old_schema = old
    else:
        await sc.drop_schema(r.settings.postgres_dsn, old)
    return report


async def rebuild_postgres(
    settings: Settings,
    *,
    replay: ReplaySettings | None = None,
    progress: Progress | None = None,
    keep_old: bool = False,
    schema: str | None = None,
    resume: str | None = None,
) -> RebuildReport:
    """Rebuild tasks, events, attempts, logs and schedules from offset 0 and switch over.

    With `resume`, the named shadow schema of a rebuild that stopped is continued from
    its checkpoints instead. A rebuild that fails after applying records keeps its shadow
    for that, and says so in a note on the exception; one that fails before drops it.
    """
    if resume is not None:
        await check_resumable(settings.postgres_dsn, resume)
    r = Replayer(
        settings, resume or schema or f"replay_{stamp()}", replay=replay, progress=progress
    )
    try:
        await r.open(create=resume is None)
        targets = await r.live_targets()
        if await r.needs_bulk(targets):
            await r.bulk(targets)
        await r.follow()
        return await switch_over(r, keep_old=keep_old)
    except BaseException as exc:
        await r.close()
        await keep_or_drop(settings.postgres_dsn, r.schema, exc)
        raise
    finally:
        await r.close()
