"""Rebuild benchmark: N events on the broker replayed into a fresh Postgres model.

Produces a synthetic stream (the real `decide`/`evolve`, ~5.7 events per task) onto
fresh topics, then times `replay`'s rebuild path from offset 0 to the head into a new
schema (read, decode, fold, COPY; what `taskstream replay rebuild postgres` runs before
its switch-over), `--repeats` times (3) over the same stream, each into a fresh schema;
the median run by rate is reported, with every run's rate. Beside each rebuild, in the
same run: the raw COPY rate of the very rows it wrote (task_events, tasks, task_attempts)
into the same tables of another fresh schema, loaded as the rebuild loads (non-unique
indexes and the archive's key built after the COPY), so the rebuild's rate reads against
what Postgres alone allows here. The CPU each part of the stack spent during the rebuild
is saved beside the rate.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import io
import time
import uuid
from typing import Any

from bench.common import run_and_report
from bench.cpu import CpuSampler
from projections.replay import schema as sc
from projections.replay.config import ReplaySettings
from projections.replay.rebuild import Replayer
from projections.synthetic import stream
from taskstream.codec import encode
from taskstream.gc_tuning import tune_gc
from taskstream.producer import build_producer
from taskstream.settings import Settings
from taskstream.topics import base_topic_names, ensure_topics

COPIED = ("task_events", "tasks", "task_attempts")


async def _produce(settings: Settings, n_events: int) -> int:
    # A million envelopes stay alive through the produce step: built with the collector
    # off and then frozen, its passes stop walking them (each logged a "long garbage
    # collection" warning); reference counting frees them afterwards.
    gc.disable()
    try:
        events = stream(max(1, n_events * 10 // 57), seed=11)[:n_events]
    finally:
        gc.enable()
    gc.freeze()
    producer = build_producer(settings, linger_ms=50, max_batch_size=1 << 20)
    await producer.start()
    try:
        topic = settings.topic("events")
        pending = []
        for ev in events:
            pending.append(await producer.send(topic, encode(ev), key=ev.task_id.encode()))
            if len(pending) >= 20_000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return len(events)


async def _raw_copy(dsn: str, live: str, source: str) -> tuple[float, dict[str, int]]:
    """Seconds to COPY the rebuilt rows into a fresh schema's tables, and the row counts."""
    target = f"bench_copy_{uuid.uuid4().hex[:8]}"
    pool = await sc.create_shadow(dsn, target, live)
    try:
        buffers: dict[str, bytes] = {}
        counts: dict[str, int] = {}
        async with pool.acquire() as conn:
            for table in COPIED:
                buf = io.BytesIO()
                await conn.copy_from_table(table, schema_name=source, output=buf, format="binary")
                buffers[table] = buf.getvalue()
                counts[table] = await conn.fetchval(f"SELECT count(*) FROM {source}.{table}")
            # As the rebuild loads: non-unique indexes and the archive's key dropped, then
            # built after the COPY.
            indexes = await sc.drop_secondary_indexes(conn, target)
            await sc.drop_archive_key(conn, target)
        started = time.perf_counter()
        async with pool.acquire() as conn, conn.transaction():
            for table in COPIED:
                await conn.copy_to_table(
                    table, schema_name=target, source=io.BytesIO(buffers[table]),
                    format="binary",
                )  # fmt: skip
            await sc.restore_archive_key(conn, target)
        await sc.create_indexes(pool, indexes)
        return time.perf_counter() - started, counts
    finally:
        await pool.close()
        await sc.drop_schema(dsn, target)


async def _rebuild_once(settings: Settings, batch: int, workers: int) -> dict[str, Any]:
    """One rebuild of the whole stream into a fresh schema, then the raw COPY of its rows."""
    replayer = Replayer(
        settings, f"bench_rebuild_{uuid.uuid4().hex[:8]}",
        replay=ReplaySettings(replay_batch_size=batch, replay_workers=workers),
    )  # fmt: skip
    try:
        with CpuSampler() as cpu:
            started = time.perf_counter()
            await replayer.open()
            await replayer.bulk(replayer.head_targets())
            rebuild_s = time.perf_counter() - started
        report = replayer.report()
        copy_s, counts = await _raw_copy(
            settings.postgres_dsn, replayer.live_schema, replayer.schema
        )
    finally:
        await replayer.close()
        await sc.drop_schema(settings.postgres_dsn, replayer.schema)
    return {
        "records_rebuilt": report.events,
        "rebuild_seconds": round(rebuild_s, 2),
        "rebuild_events_per_s": round(report.events / rebuild_s),
        "raw_copy_rows": counts,
        "raw_copy_seconds": round(copy_s, 2),
        "raw_copy_events_per_s": round(report.events / copy_s),
        # Where the rebuild's time went, by part of the stack (less noisy than the rate).
        **cpu.figures(per=report.events),
    }


def _total(run: dict[str, Any]) -> float:
    return round(sum(run["cpu_core_seconds_per_million"].values()), 1)


async def run(
    stack: dict[str, Any], n_events: int, batch: int, workers: int, repeats: int
) -> dict[str, Any]:
    """Produce once, then rebuild (and copy) `repeats` times; returns the figures of the
    median run by rate, and every run's rates."""
    settings = Settings(
        kafka_bootstrap=stack["kafka_bootstrap"],
        postgres_dsn=stack["postgres_dsn"],
        topic_prefix=f"benchrebuild{uuid.uuid4().hex[:6]}",
    )
    await ensure_topics(settings, base_topic_names(settings))
    tune_gc(settings, rebuild=True)  # as `taskstream replay rebuild` does
    t0 = time.perf_counter()
    produced = await _produce(settings, n_events)
    produce_s = time.perf_counter() - t0
    runs = []
    for i in range(repeats):
        runs.append(await _rebuild_once(settings, batch, workers))
        print(
            f"run {i + 1}/{repeats}: rebuild {runs[-1]['rebuild_events_per_s']} events/s,"
            f" raw COPY {runs[-1]['raw_copy_events_per_s']} events/s,"
            f" {_total(runs[-1])} core-s per million", flush=True
        )  # fmt: skip
    by_rate = sorted(runs, key=lambda r: r["rebuild_events_per_s"])
    median = by_rate[len(by_rate) // 2]
    return {
        "events": produced,
        "batch_size": batch,
        "workers": workers,
        "produce_events_per_s": round(produced / produce_s),
        "runs": repeats,
        "rebuild_events_per_s_each": [r["rebuild_events_per_s"] for r in runs],
        "raw_copy_events_per_s_each": [r["raw_copy_events_per_s"] for r in runs],
        # Each run's CPU per million events, all of the stack and its two main parts: the
        # work each run did, beside its rate (on a busy host both move).
        "cpu_per_million_total_each": [_total(r) for r in runs],
        **{
            f"cpu_per_million_{part.replace(' ', '_')}_each": [
                r["cpu_core_seconds_per_million"].get(part, 0.0) for r in runs
            ]
            for part in ("replay processes", "postgres")
        },
        # The median run by rebuild rate (with its own raw COPY and CPU figures): on 2
        # shared cores one run's rate moves by 1.5x for the same code.
        **median,
        "target_events_per_s": 50_000,
        "note": "2 shared cores; the broker, Postgres and the rebuild share them",
    }


def main() -> None:
    """Entry point: `python -m bench.rebuild`."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument(
        "--batch",
        type=int,
        default=ReplaySettings().replay_batch_size,
        help="records per transaction (default: TASKSTREAM_REPLAY_BATCH_SIZE's)",
    )
    parser.add_argument("--workers", type=int, default=2, help="replay processes")
    parser.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="rebuilds of the same stream, each into a fresh schema (the median is reported)",
    )
    parser.add_argument("--stack-json", help="use a running stack instead of starting one")
    args = parser.parse_args()
    run_and_report(
        "rebuild",
        lambda stack: run(stack, args.events, args.batch, args.workers, max(1, args.repeats)),
        stack_json=args.stack_json,
    )


if __name__ == "__main__":
    main()
