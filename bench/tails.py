"""Live-tail benchmark: delivery latency from an event's `occurred_at` to a WebSocket client.

Publishes demo.echo submit commands straight onto the commands topic at a steady rate
(as a producer service would), follows the events over `/v1/stream/ws`, and reports the
latency of every event of those tasks, p50/p95/p99. `occurred_at` is stamped by the
scheduler when it decides, so the figure includes appending the event to the log, the
API's fetch and the fan-out; it does not include the command's own wait in the scheduler.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from datetime import datetime
from typing import Any

import orjson
from websockets.asyncio.client import connect

from bench.common import percentiles, run_and_report
from taskstream.producer import CommandProducer, make_command, new_id
from taskstream.settings import Settings

# Stop once the tail was silent this long (the scheduler may lag far behind the submits).
IDLE_LIMIT_SECONDS = 30


async def _produce(bootstrap: str, rate: int, seconds: float, ids: set[str]) -> float:
    producer = CommandProducer(Settings(kafka_bootstrap=bootstrap))
    await producer.start()
    try:
        start = time.monotonic()
        total = int(rate * seconds)
        for i in range(total):
            due = start + i / rate
            if (ahead := due - time.monotonic()) > 0:
                await asyncio.sleep(ahead)
            task_id = new_id()
            ids.add(task_id)
            body = {"type": "demo.echo", "payload": {"i": i}}
            await producer.send(make_command("task.submit", task_id, body))
        await producer.flush()
        return total / (time.monotonic() - start)
    finally:
        await producer.stop()


async def run(stack: dict[str, Any], rate: int, seconds: float) -> dict[str, Any]:
    """Follow the events tail while `rate` tasks/s are submitted for `seconds`."""
    url = stack["api_url"].replace("http://", "ws://", 1) + "/v1/stream/ws"
    headers = {"Authorization": f"Bearer {stack['api_key']}"}
    ids: set[str] = set()
    latencies: list[float] = []
    succeeded: set[str] = set()
    async with connect(url, additional_headers=headers, max_size=None) as ws:
        await ws.send(json.dumps({"subscribe": {"stream": "events", "type": "demo.echo"}}))
        assert "subscribed" in orjson.loads(await ws.recv())
        producing = asyncio.create_task(_produce(stack["kafka_bootstrap"], rate, seconds, ids))
        deadline = time.monotonic() + seconds + 300
        idle = 0
        while time.monotonic() < deadline and idle < IDLE_LIMIT_SECONDS:
            try:
                raw = await asyncio.wait_for(ws.recv(), 1)
                idle = 0
            except TimeoutError:
                idle += 1
                continue
            received = time.time()
            event = orjson.loads(raw)["event"]
            if event["task_id"] not in ids:
                continue
            occurred = datetime.fromisoformat(event["occurred_at"]).timestamp()
            latencies.append((received - occurred) * 1000)
            if event["type"] == "task.succeeded":
                succeeded.add(event["task_id"])
                if producing.done() and len(succeeded) == len(ids):
                    break
        achieved = await producing
    return {
        "target_rate_tasks_per_s": rate,
        "achieved_rate_tasks_per_s": round(achieved, 1),
        "tasks": len(ids),
        "tasks_succeeded_seen": len(succeeded),
        "events_received": len(latencies),
        "occurred_to_ws_received_ms": percentiles(latencies),
    }


def main() -> None:
    """Entry point: `python -m bench.tails`."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=int, default=300, help="submitted tasks per second")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--stack-json", help="use a running stack instead of starting one")
    args = parser.parse_args()
    run_and_report(
        "tails", lambda stack: run(stack, args.rate, args.seconds), stack_json=args.stack_json
    )


if __name__ == "__main__":
    main()
