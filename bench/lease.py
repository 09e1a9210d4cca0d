"""Lease benchmark: from a worker's SIGKILL to the re-dispatch of its attempts.

Starts the embedded stack with a short lease, fills the worker with long `demo.sleep`
tasks, SIGKILLs the worker, and measures for each of its running attempts the time until
the scheduler dispatched the task again (target: at most twice the lease).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from bench.common import percentiles, run_and_report
from taskstream.stack.state import read_stack


async def run(stack: dict[str, Any], n: int, lease: float) -> dict[str, Any]:
    """Fill, kill, measure."""
    headers = {"Authorization": f"Bearer {stack['api_key']}"}
    async with aiohttp.ClientSession(stack["api_url"], headers=headers) as s:
        ids = []
        for _ in range(n):
            body = {"type": "demo.sleep", "payload": {"seconds": 60}, "max_attempts": 3}
            async with s.post("/v1/tasks", json=body) as resp:
                resp.raise_for_status()
                ids.append((await resp.json())["id"])
    conn = await asyncpg.connect(stack["postgres_dsn"])
    try:
        for _ in range(120):
            running = await conn.fetchval(
                "SELECT count(*) FROM tasks WHERE id = ANY($1::text[]) AND status = 'running'", ids
            )
            if running == n:
                break
            await asyncio.sleep(0.5)
        info = read_stack(Path(stack["data_dir"])) or {}
        killed_at = time.time()
        os.kill(info["services"]["worker"]["pid"], signal.SIGKILL)
        deadline = time.monotonic() + lease * 4 + 60
        rows: list[asyncpg.Record] = []
        while time.monotonic() < deadline:
            rows = await conn.fetch(
                "SELECT task_id, min(occurred_at) AS at FROM task_events"
                " WHERE task_id = ANY($1::text[]) AND type = 'task.dispatched'"
                " AND (payload->>'attempt')::int = 2 GROUP BY task_id",
                ids,
            )
            if len(rows) == n:
                break
            await asyncio.sleep(0.5)
    finally:
        await conn.close()
    gaps = [(r["at"].timestamp() - killed_at) * 1000 for r in rows if isinstance(r["at"], datetime)]
    return {
        "attempts_killed": n,
        "redispatched": len(rows),
        "lease_seconds": lease,
        "kill_to_redispatch_ms": percentiles(gaps),
        "target_ms": 2 * lease * 1000,
    }


def main() -> None:
    """Entry point: `python -m bench.lease`."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=20, help="attempts running at the kill")
    parser.add_argument("--lease", type=float, default=5.0)
    args = parser.parse_args()
    env = {"TASKSTREAM_LEASE_SECONDS": str(args.lease)}
    run_and_report("lease", lambda stack: run(stack, args.tasks, args.lease), env=env)


if __name__ == "__main__":
    main()
