"""Spine benchmark: N demo.echo tasks over REST on the embedded stack, end to end.

Prints throughput (submit of the first to success of the last) and per-task latency
from submit to start and to success (p50/p95/p99), and saves them as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import datetime
from typing import Any

import aiohttp
import asyncpg

from bench.common import percentiles, run_and_report


async def _submit(api_url: str, key: str, n: int, concurrency: int) -> dict[str, float]:
    # aiohttp, not httpx: httpx's pool tops out near 180 requests/s here, well below the API.
    sent: dict[str, float] = {}
    headers = {"Authorization": f"Bearer {key}"}
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(api_url, headers=headers, connector=connector) as client:
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(n):
            queue.put_nowait(i)

        async def loop() -> None:
            while not queue.empty():
                i = queue.get_nowait()
                started = time.time()
                body = {"type": "demo.echo", "payload": {"i": i}}
                async with client.post("/v1/tasks", json=body) as resp:
                    resp.raise_for_status()
                    sent[(await resp.json())["id"]] = started

        await asyncio.gather(*(loop() for _ in range(concurrency)))
    return sent


async def _wait(dsn: str, ids: list[str], timeout: float) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn)
    try:
        deadline = time.monotonic() + timeout
        while True:
            done = await conn.fetchval(
                "SELECT count(*) FROM tasks WHERE id = ANY($1::text[]) AND status = 'succeeded'",
                ids,
            )
            if done == len(ids) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        rows: list[asyncpg.Record] = await conn.fetch(
            "SELECT id, status, state->'attempts'->0->>'started_at' AS started,"
            " state->'attempts'->0->>'finished_at' AS finished"
            " FROM tasks WHERE id = ANY($1::text[])",
            ids,
        )
        return rows
    finally:
        await conn.close()


async def run(stack: dict[str, Any], n: int, concurrency: int) -> dict[str, Any]:
    """Submit `n` tasks and measure; returns the figures."""
    t0 = time.time()
    sent = await _submit(stack["api_url"], stack["api_key"], n, concurrency)
    submit_seconds = time.time() - t0
    rows = await _wait(stack["postgres_dsn"], list(sent), timeout=600)
    ok = [r for r in rows if r["status"] == "succeeded"]
    to_start = [
        (datetime.fromisoformat(r["started"]).timestamp() - sent[r["id"]]) * 1000 for r in ok
    ]
    finished = {r["id"]: datetime.fromisoformat(r["finished"]).timestamp() for r in ok}
    to_done = [(finished[i] - sent[i]) * 1000 for i in finished]
    span = max(finished.values()) - min(sent.values()) if finished else float("nan")
    return {
        "tasks": n,
        "succeeded": len(ok),
        "submit_concurrency": concurrency,
        "submit_rate_per_s": round(n / submit_seconds, 1),
        "throughput_tasks_per_s": round(len(ok) / span, 1),
        "submit_to_start_ms": percentiles(to_start),
        "submit_to_succeeded_ms": percentiles(to_done),
    }


def main() -> None:
    """Entry point: `python -m bench.spine`."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=32, help="parallel REST submitters")
    parser.add_argument("--stack-json", help="use a running stack instead of starting one")
    args = parser.parse_args()
    run_and_report(
        "spine", lambda stack: run(stack, args.tasks, args.concurrency), stack_json=args.stack_json
    )


if __name__ == "__main__":
    main()
