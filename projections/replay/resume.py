"""Stopping and resuming a rebuild: which shadow is kept, and which one may be resumed.

A rebuild commits each batch with its checkpoints, and a bulk load records in its shadow
what it dropped (`schema.begin_bulk`) and the statistics of each batch
(`queue_models.STAT_PARTS`), so a shadow that holds applied records can be continued
from its checkpoints (`rebuild_postgres(resume=...)`, `replay rebuild postgres --resume`).
"""

from __future__ import annotations

import asyncpg

from projections.replay import schema as sc


class NoSuchShadow(ValueError):
    """`--resume` named a schema that is not a rebuild's shadow."""


async def _applied(conn: asyncpg.Connection, schema: str) -> int | None:
    try:
        return int(
            await conn.fetchval(
                f'SELECT coalesce(sum("offset" + 1), 0) FROM {sc.ident(schema)}.{sc.CHECKPOINTS}'
            )
        )
    except (asyncpg.UndefinedTableError, asyncpg.InvalidSchemaNameError):
        return None


async def shadow_progress(dsn: str, schema: str) -> int | None:
    """Records the shadow `schema` has applied (by its checkpoints); None if there is no
    such shadow."""
    conn = await asyncpg.connect(dsn)
    try:
        return await _applied(conn, schema)
    finally:
        await conn.close()


def resume_command(schema: str) -> str:
    """The command that continues the rebuild of the shadow `schema`."""
    return f"taskstream replay rebuild postgres --resume {schema}"


async def check_resumable(dsn: str, schema: str) -> None:
    """Raise `NoSuchShadow` unless `schema` is a shadow `create_shadow` made (never the
    live schema, nor an old one kept) with its checkpoints table."""
    try:
        sc.ident(schema)
    except ValueError as exc:
        raise NoSuchShadow(f"--resume {schema}: {exc}") from exc
    conn = await asyncpg.connect(dsn)
    try:
        resumable = await sc.is_shadow(conn, schema) and await _applied(conn, schema) is not None
    finally:
        await conn.close()
    if not resumable:
        raise NoSuchShadow(
            f"--resume {schema}: there is no rebuild's shadow schema of that name; "
            "start a new rebuild without --resume"
        )


async def keep_or_drop(dsn: str, schema: str, exc: BaseException) -> None:
    """After a failure: keep the shadow `schema` if it holds applied records (and say so
    in a note on `exc`, which the CLI prints in its own words), else drop it."""
    try:
        applied = await shadow_progress(dsn, schema)
    except (OSError, asyncpg.PostgresError):
        return  # Postgres is what failed: nothing can be dropped now, and it stays
    if not applied:
        await sc.drop_schema(dsn, schema)
        return
    exc.add_note(
        f"The rebuild's shadow schema {schema} keeps the {applied:,} records it applied. "
        f"Continue it with: {resume_command(schema)} (or drop it: DROP SCHEMA {schema} "
        "CASCADE)"
    )
