"""Queue benchmark: how soon a resume dispatches, and a concurrency limit's throughput.

On the embedded stack (its worker serves `default`):

- pause `default`, submit N tasks, wait until all are ready, resume: the time from the
  `queue.resumed` event to the first `task.dispatched`, and from the resume request to
  each task's `attempt.started`;
- set a limit L, run M `demo.sleep` tasks of S seconds: the most attempts seen running
  at once (must be ≤ L) and the throughput against the ideal L / S tasks per second.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

import aiohttp
import asyncpg

from bench.common import percentiles, run_and_report


async def _submit(s: aiohttp.ClientSession, bodies: list[dict[str, Any]]) -> list[str]:
    ids = []
    for body in bodies:
        async with s.post("/v1/tasks", json=body) as resp:
            resp.raise_for_status()
            ids.append((await resp.json())["id"])
    return ids


async def _until(conn: asyncpg.Connection, sql: str, *args: Any, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not await conn.fetchval(sql, *args):
        if time.monotonic() > deadline:
            raise TimeoutError(sql)
        await asyncio.sleep(0.05)


_DONE = "SELECT count(*) = $2 FROM tasks WHERE id = ANY($1::text[]) AND status = 'succeeded'"


def _peak(spans: list[tuple[float, float]]) -> int:
    points = sorted([(a, 1) for a, _ in spans] + [(b, -1) for _, b in spans])
    running = peak = 0
    for _, step in points:
        running += step
        peak = max(peak, running)
    return peak


async def run(stack: dict[str, Any], n: int, m: int, limit: int, seconds: float) -> dict[str, Any]:
    """Pause, resume, limit; measure from the archive."""
    headers = {"Authorization": f"Bearer {stack['api_key']}"}
    conn = await asyncpg.connect(stack["postgres_dsn"])
    try:
        async with aiohttp.ClientSession(stack["api_url"], headers=headers) as s:
            (await s.post("/v1/queues/default/pause", json={})).raise_for_status()
            await _until(conn, "SELECT paused FROM queue_settings WHERE queue = 'default'")
            ids = await _submit(s, [{"type": "demo.echo", "payload": i} for i in range(n)])
            await _until(
                conn,
                "SELECT count(*) = $2 FROM tasks WHERE id = ANY($1::text[]) AND status = 'pending'",
                ids,
                n,
            )
            asked = time.time()
            (await s.post("/v1/queues/default/resume", json={})).raise_for_status()
            await _until(
                conn,
                _DONE,
                ids,
                n,
            )
            resumed = await conn.fetchval(
                "SELECT max(occurred_at) FROM task_events WHERE task_id = 'que_default:default'"
                " AND type = 'queue.resumed'"
            )
            first = await conn.fetchval(
                "SELECT min(occurred_at) FROM task_events WHERE task_id = ANY($1::text[])"
                " AND type = 'task.dispatched'",
                ids,
            )
            starts = await conn.fetch(
                "SELECT started_at FROM task_attempts WHERE task_id = ANY($1::text[])", ids
            )
            (await s.put("/v1/queues/default/limit", json={"limit": limit})).raise_for_status()
            await _until(
                conn,
                "SELECT concurrency_limit = $1 FROM queue_settings WHERE queue = 'default'",
                limit,
            )
            body = {"type": "demo.sleep", "payload": {"seconds": seconds}}
            began = time.time()
            limited = await _submit(s, [body] * m)
            await _until(
                conn,
                _DONE,
                limited,
                m,
                timeout=600,
            )
            took = time.time() - began
            spans = await conn.fetch(
                "SELECT started_at, finished_at FROM task_attempts WHERE task_id = ANY($1::text[])",
                limited,
            )
            (await s.delete("/v1/queues/default/limit")).raise_for_status()
    finally:
        await conn.close()
    return {
        "paused_tasks": n,
        "resumed_event_to_first_dispatch_ms": round((first - resumed).total_seconds() * 1000, 2),
        "resume_request_to_start_ms": percentiles(
            [(r["started_at"].timestamp() - asked) * 1000 for r in starts]
        ),
        "limit": limit,
        "limited_tasks": m,
        "sleep_seconds": seconds,
        "max_running_at_once": _peak(
            [(r["started_at"].timestamp(), r["finished_at"].timestamp()) for r in spans]
        ),
        "limited_tasks_per_second": round(m / took, 2),
        "ideal_tasks_per_second": round(limit / seconds, 2),
    }


def main() -> None:
    """Entry point: `python -m bench.queues`."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stack", help="stack.json of a running stack (default: start one)")
    parser.add_argument("--paused", type=int, default=500, help="tasks waiting for the resume")
    parser.add_argument("--limited", type=int, default=200, help="tasks under the limit")
    parser.add_argument("--limit", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=0.2, help="each limited task sleeps")
    args = parser.parse_args()
    run_and_report(
        "queues",
        lambda stack: run(stack, args.paused, args.limited, args.limit, args.seconds),
        stack_json=args.stack,
    )


if __name__ == "__main__":
    main()
