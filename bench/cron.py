"""Cron benchmark: lateness of a per-second schedule over about a minute.

Creates a `* * * * * *` schedule, lets it fire for `--seconds`, deletes it, and prints
p50/p95/p99/max of fired_at - due_at (the scheduler's timer) and of the task's attempt
start - due_at (timer + submit + dispatch + worker pick-up). Saves the figures as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import time
from datetime import datetime
from typing import Any

import aiohttp
import asyncpg

from bench.common import percentiles, run_and_report


async def run(stack: dict[str, Any], seconds: float) -> dict[str, Any]:
    """Create, wait, delete, measure."""
    headers = {"Authorization": f"Bearer {stack['api_key']}"}
    body = {"cron": "* * * * * *", "template": {"type": "demo.echo", "payload": {}}}
    async with aiohttp.ClientSession(stack["api_url"], headers=headers) as s:
        async with s.post("/v1/schedules", json=body) as resp:
            resp.raise_for_status()
            sid = (await resp.json())["id"]
        await asyncio.sleep(seconds)
        async with s.delete(f"/v1/schedules/{sid}") as resp:
            resp.raise_for_status()
    conn = await asyncpg.connect(stack["postgres_dsn"])
    try:
        await asyncio.sleep(3)  # the last fires' tasks run
        fires = await conn.fetch(
            "SELECT payload->>'due_at' AS due, payload->>'fired_at' AS fired,"
            " payload->>'task_id' AS task FROM task_events"
            " WHERE task_id = $1 AND type = 'schedule.fired' ORDER BY version",
            sid,
        )
        ids = [f["task"] for f in fires]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            done = await conn.fetchval(
                "SELECT count(*) FROM tasks WHERE id = ANY($1::text[]) AND status = 'succeeded'",
                ids,
            )
            if done == len(ids):
                break
            await asyncio.sleep(0.5)
        starts = {
            r["id"]: r["started"]
            for r in await conn.fetch(
                "SELECT id, state->'attempts'->0->>'started_at' AS started FROM tasks"
                " WHERE id = ANY($1::text[])",
                ids,
            )
        }
    finally:
        await conn.close()

    def ms(later: str, earlier: str) -> float:
        delta = datetime.fromisoformat(later) - datetime.fromisoformat(earlier)
        return delta.total_seconds() * 1000

    dues = [datetime.fromisoformat(f["due"]) for f in fires]
    return {
        "seconds": seconds,
        "fires": len(fires),
        "duplicate_due_times": len(dues) - len(set(dues)),
        "gaps_over_1s": sum(1 for a, b in itertools.pairwise(dues) if (b - a).seconds > 1),
        "fire_lateness_ms": percentiles([ms(f["fired"], f["due"]) for f in fires]),
        "start_lateness_ms": percentiles(
            [ms(starts[f["task"]], f["due"]) for f in fires if starts.get(f["task"])]
        ),
        "tasks_started": sum(1 for t in ids if starts.get(t)),
        "target": {"fire_p99_ms": 100},
    }


def main() -> None:
    """Entry point: `python -m bench.cron`."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--stack-json", help="use a running stack instead of starting one")
    args = parser.parse_args()
    run_and_report("cron", lambda stack: run(stack, args.seconds), stack_json=args.stack_json)


if __name__ == "__main__":
    main()
