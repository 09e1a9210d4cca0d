"""GET latency under submit load: `GET /v1/tasks/{id}` and `GET /v1/tasks` (a page of 50)
measured first on an idle API, then while writers submit single tasks and batches.

    python -m taskstream dev --data-dir /tmp/bench &
    python -m bench.api_reads --stack-json /tmp/bench/stack.json

A running stack keeps its own rate limit (`TASKSTREAM_RATE_LIMIT_PER_SECOND`): 429s are
counted and reported, not hidden. A fresh stack is started with the limit raised.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from typing import Any

import aiohttp

from bench.common import percentiles, run_and_report

SEED_TASKS = 500
QUEUE = "bench-reads"  # no worker consumes it: the seeded tasks stay put


async def _seed(s: aiohttp.ClientSession) -> list[str]:
    body = {"tasks": [{"type": "bench.read", "queue": QUEUE, "payload": {"i": i}}
                      for i in range(SEED_TASKS)]}  # fmt: skip
    async with s.post("/v1/tasks:batch", json=body) as resp:
        resp.raise_for_status()
        ids = [item["id"] for item in (await resp.json())["items"]]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # the reads must hit projected tasks, not 404s
        async with s.get(f"/v1/tasks/{ids[-1]}") as last, s.get(f"/v1/tasks/{ids[0]}") as first:
            if last.status == 200 and first.status == 200:
                return ids
        await asyncio.sleep(0.5)
    raise TimeoutError("seeded tasks were not projected in 120 s")


async def _reads(
    s: aiohttp.ClientSession, ids: list[str], seconds: float, readers: int
) -> dict[str, Any]:
    got: dict[str, list[float]] = {"get": [], "list": []}
    statuses: dict[int, int] = {}
    stop = time.monotonic() + seconds

    async def reader(n: int) -> None:
        rng = random.Random(n)
        while time.monotonic() < stop:
            kind = "get" if rng.random() < 0.5 else "list"
            path = f"/v1/tasks/{rng.choice(ids)}" if kind == "get" else "/v1/tasks?limit=50"
            t0 = time.perf_counter()
            async with s.get(path) as resp:
                await resp.read()
            statuses[resp.status] = statuses.get(resp.status, 0) + 1
            if resp.status == 200:
                got[kind].append((time.perf_counter() - t0) * 1000)

    await asyncio.gather(*(reader(n) for n in range(readers)))
    return {
        "get_task_ms": percentiles(got["get"]),
        "list_tasks_ms": percentiles(got["list"]),
        "reads": len(got["get"]) + len(got["list"]),
        "read_statuses": statuses,
    }


async def _writes(
    s: aiohttp.ClientSession, stop: asyncio.Event, singles: int, batch_size: int
) -> dict[str, Any]:
    accepted = {"single": 0, "batch": 0}
    refused: dict[int, int] = {}

    async def post(path: str, body: Any, kind: str, n: int) -> None:
        async with s.post(path, json=body) as resp:
            await resp.read()
            if resp.status == 202:
                accepted[kind] += n
            else:
                refused[resp.status] = refused.get(resp.status, 0) + 1

    async def single() -> None:
        while not stop.is_set():
            await post("/v1/tasks", {"type": "demo.echo", "payload": {}}, "single", 1)

    async def batch() -> None:
        body = {"tasks": [{"type": "demo.echo", "payload": {"i": i}} for i in range(batch_size)]}
        while not stop.is_set():
            await post("/v1/tasks:batch", body, "batch", batch_size)

    t0 = time.perf_counter()
    await asyncio.gather(*(single() for _ in range(singles)), batch())
    seconds = time.perf_counter() - t0
    return {
        "single_submits_per_s": round(accepted["single"] / seconds, 1),
        "batch_tasks_per_s": round(accepted["batch"] / seconds, 1),
        "write_refusals": refused,
    }


async def run(stack: dict[str, Any], seconds: float, readers: int, singles: int) -> dict[str, Any]:
    """Idle read latency, then read latency under single and batch submit load."""
    headers = {"Authorization": f"Bearer {stack['api_key']}"}
    connector = aiohttp.TCPConnector(limit=readers + singles + 2)
    async with aiohttp.ClientSession(stack["api_url"], headers=headers, connector=connector) as s:
        ids = await _seed(s)
        idle = await _reads(s, ids, seconds / 2, readers)
        stop = asyncio.Event()
        writing = asyncio.ensure_future(_writes(s, stop, singles, 100))
        await asyncio.sleep(1)  # the load is on before the first measured read
        loaded = await _reads(s, ids, seconds, readers)
        stop.set()
        writes = await writing
    return {
        "readers": readers,
        "single_writers": singles,
        "batch_writers": 1,
        "batch_size": 100,
        "idle": idle,
        "under_load": loaded,
        "load": writes,
    }


def main() -> None:
    """Entry point: `python -m bench.api_reads`."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=20.0, help="measured time under load")
    parser.add_argument("--readers", type=int, default=4, help="concurrent GET loops")
    parser.add_argument("--singles", type=int, default=8, help="concurrent single-submit loops")
    parser.add_argument("--stack-json", help="use a running stack instead of starting one")
    args = parser.parse_args()
    run_and_report(
        "api_reads",
        lambda stack: run(stack, args.seconds, args.readers, args.singles),
        stack_json=args.stack_json,
    )


if __name__ == "__main__":
    main()
