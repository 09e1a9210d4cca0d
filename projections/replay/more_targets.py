"""The `search` and `redis` rebuild targets, in the `(settings, *, progress)` shape.

Postgres full-text search lives in the Postgres read model (`task_search`, the log
lines' generated column), so without an Elasticsearch URL `search` rebuilds Postgres.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from projections.config import ProjectorSettings
from projections.postgres import connect_pool
from taskstream.settings import Settings

Progress = Callable[[str, int, int], None]  # (what, records done, records known; 0 unknown)


def searches_postgres(settings: Settings) -> bool:
    """True when search is Postgres full text (no Elasticsearch URL): rebuilding it is
    rebuilding the Postgres model, in a shadow schema that a stopped run may resume."""
    return not settings.elasticsearch_url


async def rebuild_search_target(
    settings: Settings,
    *,
    progress: Progress | None = None,
    keep_old: bool = False,
    schema: str | None = None,
    resume: str | None = None,
) -> Any:
    """Elasticsearch: a fresh index from offset 0, then the alias moves; Postgres full
    text: the Postgres rebuild (its search rows are part of that model), into `schema`
    or resuming the shadow `resume`."""
    if searches_postgres(settings):
        from projections.replay.switch import rebuild_postgres

        return await rebuild_postgres(
            settings, progress=progress, keep_old=keep_old, schema=schema, resume=resume
        )
    if resume is not None:
        raise ValueError(
            "--resume continues a Postgres rebuild; with TASKSTREAM_ELASTICSEARCH_URL set, "
            "search rebuilds a fresh Elasticsearch index: run it again without --resume"
        )
    from projections.search.rebuild import rebuild_search

    pool = await connect_pool(settings.postgres_dsn)
    try:
        tell = (lambda what, done: progress(what, done, 0)) if progress else None
        return await rebuild_search(
            settings, pool=pool, progress=tell, delete_previous=not keep_old
        )
    finally:
        await pool.close()


async def rebuild_redis_target(
    settings: Settings, *, progress: Progress | None = None, keep_old: bool = False
) -> Any:
    """Recount the Redis counters from the Postgres read model, swapped in atomically."""
    from projections.redis_counters import rebuild_counters_for

    del keep_old  # counters are replaced in one MULTI/EXEC; there is nothing to keep
    pool = await connect_pool(settings.postgres_dsn)
    try:
        result = await rebuild_counters_for(
            settings, pool, projection=ProjectorSettings().projector_name
        )
    finally:
        await pool.close()
    if progress:
        progress("tasks", result.tasks, result.tasks)
    return result
