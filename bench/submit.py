"""Batch submit benchmark: tasks/s accepted by `POST /v1/tasks:batch` on a running stack.

Sends `--batches` requests of `--batch-size` demo.echo tasks each, `--concurrency` at a
time, and reports the submit rate (tasks acknowledged by the command log per second)
and the latency of one batch request. Completion is not waited for: `bench.spine`
measures the pipeline end to end.

    python -m taskstream dev --data-dir /tmp/bench &
    python -m bench.submit --stack-json /tmp/bench/stack.json
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

import aiohttp

from bench.common import percentiles, run_and_report


async def run(
    stack: dict[str, Any], batches: int, batch_size: int, concurrency: int
) -> dict[str, Any]:
    """Submit `batches` of `batch_size` tasks in batch requests and measure; the figures."""
    # aiohttp, not httpx: see bench.spine.
    headers = {"Authorization": f"Bearer {stack['api_key']}"}
    connector = aiohttp.TCPConnector(limit=concurrency)
    latencies: list[float] = []
    accepted = 0
    async with aiohttp.ClientSession(stack["api_url"], headers=headers, connector=connector) as s:
        todo: asyncio.Queue[int] = asyncio.Queue()
        for b in range(batches):
            todo.put_nowait(b)

        async def loop() -> None:
            nonlocal accepted
            while not todo.empty():
                b = todo.get_nowait()
                body = {
                    "tasks": [
                        {"type": "demo.echo", "payload": {"b": b, "i": i}}
                        for i in range(batch_size)
                    ]
                }
                started = time.perf_counter()
                async with s.post("/v1/tasks:batch", json=body) as resp:
                    resp.raise_for_status()
                    accepted += len((await resp.json())["items"])
                latencies.append((time.perf_counter() - started) * 1000)

        t0 = time.perf_counter()
        await asyncio.gather(*(loop() for _ in range(concurrency)))
        seconds = time.perf_counter() - t0
    return {
        "tasks": accepted,
        "batches": batches,
        "batch_size": batch_size,
        "concurrency": concurrency,
        "seconds": round(seconds, 2),
        "submit_rate_tasks_per_s": round(accepted / seconds, 1),
        "batch_request_ms": percentiles(latencies),
    }


def main() -> None:
    """Entry point: `python -m bench.submit`."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=1, help="batch requests in flight")
    parser.add_argument("--stack-json", help="use a running stack instead of starting one")
    args = parser.parse_args()
    shape = (args.batches, args.batch_size, args.concurrency)
    run_and_report("submit", lambda stack: run(stack, *shape), stack_json=args.stack_json)


if __name__ == "__main__":
    main()
