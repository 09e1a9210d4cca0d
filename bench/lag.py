"""Projection lag under the spine benchmark's load: event in the log -> committed in Postgres.

While `bench.spine` pushes demo.echo tasks through the stack over REST, a tail reads
every new record of the events topic (its log timestamp, set when the scheduler appended
it) and a poller samples the projector's checkpoints every 10 ms. A record at offset o
of partition p counts as committed at the first sample where p's checkpoint reached o
(the checkpoint commits with the rows it covers). Lag = that time - the log timestamp;
the sampling adds up to 10 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import json
import sys
import time
from collections import defaultdict
from typing import Any

import asyncpg

from bench.common import percentiles, run_and_report
from projections.replay.source import PartitionReader, topic_partitions
from taskstream.settings import Settings

POLL_SECONDS = 0.01
FAR = 2**62


def lags_ms(
    records: list[tuple[int, int, int]], samples: dict[int, list[tuple[float, int]]]
) -> list[float]:
    """Lag of each (partition, offset, log timestamp ms) record, from checkpoint samples
    (time s, offset) per partition in time order; records never committed are left out."""
    out = []
    offsets = {p: [o for _, o in s] for p, s in samples.items()}
    for p, o, ts in records:
        i = bisect.bisect_left(offsets.get(p, []), o)
        if i < len(offsets.get(p, [])):
            out.append(samples[p][i][0] * 1000 - ts)
    return out


async def _tail(settings: Settings, stop: asyncio.Event, out: list[tuple[int, int, int]]) -> None:
    topic = settings.topic("events")
    parts = await topic_partitions(settings, topic)
    reader = PartitionReader(settings, topic, dict.fromkeys(parts, 0))
    await reader.start()
    try:
        reader.seek(await reader.learn_highwaters())  # only records appended from now on
        targets = dict.fromkeys(parts, FAR)
        while not stop.is_set():
            for p, records in await reader.fetch(targets, max_records=10_000, timeout_ms=50):
                out.extend((p, r.offset, r.timestamp) for r in records)
    finally:
        await reader.stop()


async def _poll(dsn: str, stop: asyncio.Event, out: dict[int, list[tuple[float, int]]]) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        while not stop.is_set():
            rows = await conn.fetch(
                'SELECT partition, "offset" FROM projection_checkpoints'
                " WHERE projection = 'tasks'"
            )
            now = time.time()
            for r in rows:
                series = out[r["partition"]]
                if not series or series[-1][1] != r["offset"]:
                    series.append((now, r["offset"]))
            await asyncio.sleep(POLL_SECONDS)
    finally:
        await conn.close()


async def _spine_load(stack: dict[str, Any], n: int, concurrency: int) -> dict[str, Any]:
    """`bench.spine`'s load, run in a process of its own: in this one it would share an
    event loop with the tail and the poller and push fewer tasks than the spine does."""
    script = (
        "import asyncio, json, sys; from bench import spine; "
        "print(json.dumps(asyncio.run(spine.run(json.loads(sys.argv[1]), "
        f"{n}, {concurrency}))))"
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", script, json.dumps(stack), stdout=asyncio.subprocess.PIPE
    )
    out, _ = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"the spine load exited {proc.returncode}")
    figures: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    return figures


async def run(stack: dict[str, Any], n: int, concurrency: int) -> dict[str, Any]:
    """Run the spine load with the tail and the poller beside it; returns the figures."""
    settings = Settings(kafka_bootstrap=stack["kafka_bootstrap"])
    stop = asyncio.Event()
    records: list[tuple[int, int, int]] = []
    samples: dict[int, list[tuple[float, int]]] = defaultdict(list)
    tail = asyncio.create_task(_tail(settings, stop, records))
    poll = asyncio.create_task(_poll(stack["postgres_dsn"], stop, samples))
    await asyncio.sleep(1.0)  # the tail has found the head
    load = await _spine_load(stack, n, concurrency)
    await asyncio.sleep(2.0)  # the last records reach Postgres
    stop.set()
    await asyncio.gather(tail, poll)
    lags = lags_ms(records, samples)
    return {
        "tasks": n,
        "events_seen": len(records),
        "events_committed": len(lags),
        "load_throughput_tasks_per_s": load["throughput_tasks_per_s"],
        "projection_lag_ms": percentiles(lags),
        "target_p99_ms": 500,
        "sampling_resolution_ms": POLL_SECONDS * 1000,
        "load_generator": "bench.spine in a process of its own",
    }


def main() -> None:
    """Entry point: `python -m bench.lag`."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=5_000)
    parser.add_argument("--concurrency", type=int, default=32, help="parallel REST submitters")
    parser.add_argument("--stack-json", help="use a running stack instead of starting one")
    args = parser.parse_args()
    run_and_report(
        "lag", lambda stack: run(stack, args.tasks, args.concurrency), stack_json=args.stack_json
    )


if __name__ == "__main__":
    main()
