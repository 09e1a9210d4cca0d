"""Apply throughput of the Postgres projection, without Kafka: `python -m projections.bench`.

Builds a synthetic stream with the real `decide`/`evolve`, decodes it as the projector
does, and applies it in batches to a scratch database (created, then dropped) on the
server of `--dsn`. Prints events per second for decoding, applying, and re-applying.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
import zlib
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from projections.migrate import migrate
from projections.postgres import Positioned, apply_batch
from projections.synthetic import stream
from taskstream.codec import decode as decode_envelope
from taskstream.codec import encode

PARTITIONS = 8


async def bench(dsn: str, n_tasks: int, batch_size: int, order: str) -> dict[str, float]:
    """Events per second of each phase, on a scratch database that is dropped after."""
    name = f"ts_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        pool = await asyncpg.create_pool(urlunsplit(urlsplit(dsn)._replace(path=f"/{name}")))
        try:
            await migrate(pool)
            return await _run(pool, n_tasks, batch_size, order)
        finally:
            await pool.close()
    finally:
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()


async def _run(pool: asyncpg.Pool, n_tasks: int, batch_size: int, order: str) -> dict[str, float]:
    raws = [encode(ev) for ev in stream(n_tasks, seed=7, order=order)]
    started = time.perf_counter()
    offsets = [0] * PARTITIONS
    items = []
    for raw in raws:
        event = decode_envelope(raw)
        p = zlib.crc32(event.task_id.encode()) % PARTITIONS
        items.append(Positioned(event, p, offsets[p]))
        offsets[p] += 1
    decoding = time.perf_counter() - started
    batches = [items[i : i + batch_size] for i in range(0, len(items), batch_size)]
    rates = {"events": float(len(items)), "decode": len(items) / decoding}
    for phase in ("apply", "reapply"):
        started = time.perf_counter()
        for batch in batches:
            await apply_batch(pool, "bench", batch, {i.partition: i.offset for i in batch})
        rates[phase] = len(items) / (time.perf_counter() - started)
    rates["decode+apply"] = 1 / (1 / rates["decode"] + 1 / rates["apply"])
    return rates


def main() -> None:
    """Parse arguments, run, print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsn", required=True, help="a Postgres where databases may be created")
    parser.add_argument("--tasks", type=int, default=17_500, help="task lives (~5.7 events each)")
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--order", choices=("time", "random"), default="time")
    args = parser.parse_args()
    rates = asyncio.run(bench(args.dsn, args.tasks, args.batch, args.order))
    print(f"{int(rates.pop('events'))} events, batches of {args.batch}, {args.order} order")
    for phase, rate in rates.items():
        print(f"  {phase:<13}{rate:>10,.0f} events/s")


if __name__ == "__main__":
    main()
