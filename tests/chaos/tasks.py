"""The chaos task type: records every execution in the stack's Postgres, then behaves as asked.

Imported by the chaos stack's workers (`TASKSTREAM_WORKER_TASKS`). Each run of the handler
inserts `(task_id, attempt, worker_pid)` into `chaos_executions` before doing anything
else, so the test can count how often a task's work really ran across the kills.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import asyncpg

from taskstream.registry import TaskContext, task

TABLE_DDL = """
CREATE TABLE IF NOT EXISTS chaos_executions (
    task_id     text        NOT NULL,
    attempt     integer     NOT NULL,
    worker_pid  integer     NOT NULL,
    at          timestamptz NOT NULL DEFAULT clock_timestamp()
)
"""

_pool: asyncpg.Pool | None = None
_pool_lock = asyncio.Lock()


async def _connections() -> asyncpg.Pool:
    global _pool
    async with _pool_lock:
        if _pool is None:
            _pool = await asyncpg.create_pool(
                os.environ["TASKSTREAM_POSTGRES_DSN"], min_size=1, max_size=4
            )
    return _pool


@task("chaos.step", max_attempts=10)
async def step(payload: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
    """Record this execution; sleep `seconds`; fail while the attempt is <= `failures`."""
    pool = await _connections()
    await pool.execute(
        "INSERT INTO chaos_executions (task_id, attempt, worker_pid) VALUES ($1, $2, $3)",
        ctx.task_id,
        ctx.attempt,
        os.getpid(),
    )
    seconds = float(payload.get("seconds", 0))
    if seconds:
        await asyncio.sleep(seconds)
    if ctx.attempt <= int(payload.get("failures", 0)):
        raise RuntimeError(f"chaos failure on attempt {ctx.attempt}")
    return {"attempt": ctx.attempt}
