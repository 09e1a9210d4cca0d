"""Timer benchmark: lateness of delayed tasks (attempt start minus `run_at`).

Submits N `demo.echo` tasks with `run_at` spread over a window a few seconds ahead,
waits for them, and prints p50/p95/p99/max of how late each attempt started
(target: p99 ≤ 100 ms, max ≤ 1 s). Saves the figures as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import asyncpg

from bench.common import percentiles, run_and_report


async def _submit(stack: dict[str, Any], n: int, lead: float, window: float) -> dict[str, float]:
    headers = {"Authorization": f"Bearer {stack['api_key']}"}
    base = datetime.now(UTC) + timedelta(seconds=lead)
    ids: dict[str, float] = {}  # task id -> seconds its acceptance came before run_at
    connector = aiohttp.TCPConnector(limit=32)
    async with aiohttp.ClientSession(stack["api_url"], headers=headers, connector=connector) as s:
        sem = asyncio.Semaphore(32)

        async def one(i: int) -> None:
            run_at = base + timedelta(seconds=window * i / n)
            body = {"type": "demo.echo", "payload": {"i": i}, "run_at": run_at.isoformat()}
            async with sem, s.post("/v1/tasks", json=body) as resp:
                resp.raise_for_status()
                ids[(await resp.json())["id"]] = run_at.timestamp() - time.time()

        await asyncio.gather(*(one(i) for i in range(n)))
    return ids


async def run(stack: dict[str, Any], n: int, lead: float, window: float) -> dict[str, Any]:
    """Submit, wait, measure."""
    started = time.time()
    ahead = await _submit(stack, n, lead, window)
    ids = list(ahead)
    submit_seconds = time.time() - started
    conn = await asyncpg.connect(stack["postgres_dsn"])
    try:
        deadline = time.monotonic() + lead + window + 300
        while time.monotonic() < deadline:
            done = await conn.fetchval(
                "SELECT count(*) FROM tasks WHERE id = ANY($1::text[]) AND status = 'succeeded'",
                ids,
            )
            if done == len(ids):
                break
            await asyncio.sleep(0.5)
        rows = await conn.fetch(
            "SELECT id, (SELECT payload->>'run_at' FROM task_events e WHERE e.task_id = t.id"
            "        AND e.type = 'task.submitted') AS run_at,"
            " (SELECT occurred_at FROM task_events e WHERE e.task_id = t.id"
            "        AND e.type = 'task.ready') AS ready,"
            " (SELECT min(occurred_at) FROM task_events e WHERE e.task_id = t.id"
            "        AND e.type = 'task.dispatched') AS dispatched,"
            " state->'attempts'->0->>'started_at' AS started"
            " FROM tasks t WHERE id = ANY($1::text[]) AND status = 'succeeded'",
            ids,
        )
    finally:
        await conn.close()
    late = [
        (datetime.fromisoformat(r["started"]) - datetime.fromisoformat(r["run_at"])).total_seconds()
        * 1000
        for r in rows
        if ahead[r["id"]] > 0  # accepted before its run_at: a fair measure of the timer
    ]
    fair = [r for r in rows if ahead[r["id"]] > 0 and r["ready"] and r["dispatched"]]

    def stage(since: str, until: str) -> dict[str, float]:
        def at(r: Any, key: str) -> datetime:
            value = r[key]
            return datetime.fromisoformat(value) if isinstance(value, str) else value

        return percentiles([(at(r, until) - at(r, since)).total_seconds() * 1000 for r in fair])

    return {
        "tasks": n,
        "succeeded": len(rows),
        "submit_seconds": round(submit_seconds, 1),
        "window_seconds": window,
        "lateness_ms": percentiles(late),
        # Where the lateness goes: the timer firing, waiting for dispatch capacity, and
        # the dispatch record's way to a worker (started_at is the worker's own clock).
        "stages_ms": {
            "run_at_to_ready": stage("run_at", "ready"),
            "ready_to_dispatched": stage("ready", "dispatched"),
            "dispatched_to_started": stage("dispatched", "started"),
        },
        "early": sum(1 for x in late if x < 0),
        "accepted_after_run_at": sum(1 for v in ahead.values() if v <= 0),
        "target": {"p99_ms": 100, "max_ms": 1000},
    }


def main() -> None:
    """Entry point: `python -m bench.timers`."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--window", type=float, default=20.0, help="spread of run_at (s)")
    parser.add_argument("--stack-json", help="use a running stack instead of starting one")
    args = parser.parse_args()
    # run_at must still be ahead when the last submit lands (≥ 100 submits/s even when
    # the machine is busy); tasks accepted after their run_at are left out and counted.
    lead = 10.0 + args.tasks / 100
    run_and_report(
        "timers",
        lambda stack: run(stack, args.tasks, lead, args.window),
        stack_json=args.stack_json,
    )


if __name__ == "__main__":
    main()
