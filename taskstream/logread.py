"""Read a topic partition from the start up to its high watermark.

The high watermark comes from Fetch responses; `end_offsets()` is never used, since the
embedded broker answers ListOffsets wrongly for multi-record batches.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from taskstream.kafka import plain_consumer_options
from taskstream.settings import Settings


async def read_partition(
    settings: Settings, topic: str, partition: int, *, batch: int = 10_000
) -> AsyncIterator[list[Any]]:
    """Yield the partition's records in batches, from offset 0 to the high watermark
    seen when reading began (records appended later may or may not be included)."""
    tp = TopicPartition(topic, partition)
    consumer = AIOKafkaConsumer(
        **plain_consumer_options(settings), max_partition_fetch_bytes=8 << 20
    )
    await consumer.start()
    try:
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        deadline = time.monotonic() + 30.0
        while True:
            records = (await consumer.getmany(tp, timeout_ms=200, max_records=batch)).get(tp, [])
            if records:
                yield records
            highwater = consumer.highwater(tp)
            if highwater is not None and await consumer.position(tp) >= highwater:
                return
            if highwater is None and time.monotonic() > deadline:
                raise TimeoutError(f"no fetch response for {tp} in 30 s")
    finally:
        await consumer.stop()


async def partition_count(settings: Settings, topic: str) -> int:
    """Number of partitions of `topic` (0 if it does not exist)."""
    consumer = AIOKafkaConsumer(**plain_consumer_options(settings))
    await consumer.start()
    try:
        await consumer.topics()  # loads the cluster metadata
        return len(consumer.partitions_for_topic(topic) or ())
    finally:
        await consumer.stop()
