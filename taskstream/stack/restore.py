"""Before the services start: the embedded broker's log restored from the Postgres archive."""

from __future__ import annotations

import logging
import time

from taskstream.settings import Settings

log = logging.getLogger("taskstream.stack")


async def restore_from_archive(settings: Settings, dsn: str) -> None:
    """Write the archived events and log lines back to the fresh broker (see
    `projections.replay.restore`); a fresh data directory has nothing to restore."""
    import asyncpg

    from projections.replay.restore import restore_log

    started = time.monotonic()
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
    try:
        report = await restore_log(settings, pool)
    finally:
        await pool.close()
    if report.skipped:
        log.info("log not restored", extra={"reason": report.skipped})
        return
    log.info(
        "log restored from the postgres archive",
        extra={
            "records": report.records,
            "filled_gaps": report.filled,
            "seconds": round(time.monotonic() - started, 2),
        },
    )
