"""The replay's partition reader on the real broker: it reads up to its targets, never past
them, and leaves the partitions it has no use for paused, so its consumer stops fetching
them (an unpaused partition at its target or at the head is fetched again and again)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from aiokafka import TopicPartition

from projections.replay.source import PartitionReader, topic_partitions
from taskstream.producer import build_producer
from taskstream.settings import Settings
from taskstream.topics import base_topic_names, ensure_topics

pytestmark = pytest.mark.integration


def _paused(reader: PartitionReader) -> set[int]:
    return {tp.partition for tp in reader._consumer.paused()}


async def _read(reader: PartitionReader, targets: dict[int, int]) -> dict[int, list[int]]:
    got: dict[int, list[int]] = {}
    while not reader.done(targets):
        for p, records in await reader.fetch(targets, max_records=7):
            got.setdefault(p, []).extend(r.offset for r in records)
    return got


async def test_reader_stops_at_targets_and_pauses_what_it_does_not_need(
    stack: dict[str, Any],
) -> None:
    settings = Settings(
        kafka_bootstrap=stack["kafka_bootstrap"], topic_prefix=f"src{uuid.uuid4().hex[:6]}"
    )
    await ensure_topics(settings, base_topic_names(settings))
    topic = settings.topic("events")
    parts = await topic_partitions(settings, topic)
    assert len(parts) >= 3
    producer = build_producer(settings, linger_ms=5)
    await producer.start()
    try:
        sends = [await producer.send(topic, b"x%d" % i, partition=i % 2) for i in range(40)]
        await asyncio.gather(*sends)
    finally:
        await producer.stop()

    reader = PartitionReader(settings, topic, dict.fromkeys(parts, 0))
    await reader.start()
    try:
        highwaters = await reader.learn_highwaters()
        assert highwaters[0] == highwaters[1] == 20
        assert _paused(reader) == set(parts)  # nothing asked for yet

        # Partition 0 up to offset 9, partition 1 to its end, the others not at all.
        got = await _read(reader, {0: 9, 1: 19})
        assert got == {0: list(range(10)), 1: list(range(20))}
        assert _paused(reader) == set(parts)  # all done: no fetch goes out
        assert await reader.fetch({0: 9, 1: 19}, max_records=7) == []

        # A later target resumes the partition from where reading stopped.
        got = await _read(reader, {0: 19, 1: 19})
        assert got == {0: list(range(10, 20))}
        assert TopicPartition(topic, 0) in reader._consumer.paused()
    finally:
        await reader.stop()
