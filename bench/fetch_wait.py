"""Fetch-wait benchmark: how long a record waits for a consumer at the head of its partition.

For each fetch max wait, a group-less consumer sits at the head of one partition and a
producer (no linger) sends one record at a time, at uneven moments; the figure is the
time from the send to `getmany` returning it. A broker that answers a Fetch as soon as
records arrive gives about the round trip whatever the wait; one that holds the Fetch
for the whole wait gives about half the wait on average. Also measured: a Fetch of a
record that is already there (the consumer behind the head), which should not wait.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from bench.common import percentiles, run_and_report
from taskstream.kafka import plain_consumer_options
from taskstream.producer import build_producer
from taskstream.settings import Settings
from taskstream.topics import base_topic_names, ensure_topics

WAITS_MS = (10, 50, 100, 200, 500, 1000)


async def _at_head(settings: Settings, topic: str, wait_ms: int, sends: int) -> dict[str, Any]:
    producer = build_producer(settings, linger_ms=0)
    options = {**plain_consumer_options(settings), "fetch_max_wait_ms": wait_ms}
    consumer = AIOKafkaConsumer(**options)
    await producer.start()
    await consumer.start()
    tp = TopicPartition(topic, 0)
    try:
        consumer.assign([tp])
        # The head, from a record of our own (the broker's ListOffsets is not trusted).
        meta = await producer.send_and_wait(topic, b"mark", partition=0)
        consumer.seek(tp, meta.offset + 1)
        head, behind = [], []
        for i in range(sends):
            await asyncio.sleep(0.05 + (i * 37 % 100) / 1000)  # uneven phase against the wait
            sent = time.perf_counter()
            await producer.send_and_wait(topic, b"x", partition=0)
            while not await consumer.getmany(tp, timeout_ms=5000):
                pass
            head.append((time.perf_counter() - sent) * 1000)
        for _ in range(min(sends, 10)):  # records already there: read one again
            consumer.seek(tp, meta.offset + 1)
            started = time.perf_counter()
            while not await consumer.getmany(tp, timeout_ms=5000, max_records=1):
                pass
            behind.append((time.perf_counter() - started) * 1000)
        return {"at_head_ms": percentiles(head), "behind_head_ms": percentiles(behind)}
    finally:
        await consumer.stop()
        await producer.stop()


async def run(stack: dict[str, Any], sends: int) -> dict[str, Any]:
    """Latency per fetch wait; returns the figures."""
    settings = Settings(
        kafka_bootstrap=stack["kafka_bootstrap"],
        topic_prefix=f"benchfetch{uuid.uuid4().hex[:6]}",
    )
    await ensure_topics(settings, base_topic_names(settings))
    topic = settings.topic("logs")
    by_wait = {f"{w}": await _at_head(settings, topic, w, sends) for w in WAITS_MS}
    return {"sends_per_wait": sends, "by_fetch_wait_ms": by_wait}


def main() -> None:
    """Entry point: `python -m bench.fetch_wait`."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sends", type=int, default=30, help="records per fetch wait")
    parser.add_argument("--stack-json", help="use a running stack instead of starting one")
    args = parser.parse_args()
    run_and_report("fetch_wait", lambda stack: run(stack, args.sends), stack_json=args.stack_json)


if __name__ == "__main__":
    main()
