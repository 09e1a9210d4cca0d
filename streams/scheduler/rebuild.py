"""Rebuild a partition's state by folding its events from the start of the log.

Reads up to the high watermark reported by Fetch responses; never `end_offsets()`,
which the embedded broker answers wrongly for multi-record batches.
"""

from __future__ import annotations

import logging
import time

from aiokafka import AIOKafkaConsumer, TopicPartition

from streams.scheduler.partition import PartitionState, Timing
from taskstream.codec import decode
from taskstream.domain.errors import DecodeError
from taskstream.kafka import plain_consumer_options
from taskstream.settings import Settings

log = logging.getLogger(__name__)


async def rebuild_partition(settings: Settings, partition: int, timing: Timing) -> PartitionState:
    """The state of `partition`: every event in the events topic, folded in order."""
    started = time.monotonic()
    state = PartitionState(partition, timing)
    tp = TopicPartition(settings.topic("events"), partition)
    consumer = AIOKafkaConsumer(
        **plain_consumer_options(settings), max_partition_fetch_bytes=8 << 20
    )
    await consumer.start()
    count = 0
    try:
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        deadline = time.monotonic() + 30.0
        while True:
            batch = await consumer.getmany(tp, timeout_ms=200, max_records=10_000)
            now = time.time()
            for record in batch.get(tp, []):
                try:
                    event = decode(record.value)
                except DecodeError as exc:
                    log.error(
                        "undecodable event skipped in rebuild",
                        extra={"partition": partition, "offset": record.offset, "error": str(exc)},
                    )
                    continue
                try:
                    state.apply(event, now)
                except ValueError as exc:
                    log.error(
                        "event does not apply in rebuild",
                        extra={"partition": partition, "offset": record.offset, "error": str(exc)},
                    )
                count += 1
            highwater = consumer.highwater(tp)
            position = await consumer.position(tp)
            if highwater is not None and position >= highwater:
                break
            if highwater is None and time.monotonic() > deadline:
                raise TimeoutError(f"no fetch response for {tp} in 30 s")
    finally:
        await consumer.stop()
    log.info(
        "partition rebuilt",
        extra={
            "partition": partition,
            "events": count,
            "tasks": len(state.tasks),
            "seconds": round(time.monotonic() - started, 3),
        },
    )
    return state
