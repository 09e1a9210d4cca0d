"""A producer that starts before a topic exists keeps delivering to the topics it knew.

aiokafka learns every topic from its start-up metadata but names only the topics it
looked up in later refreshes, so the first send to a newer topic makes it forget the
others: a record to an old topic still lingering in the accumulator found no leader and
failed after `request_timeout_ms` (the scheduler's 40 s stall when a queue was paused
right after start). `build_producer` (taskstream/tracking_producer.py) must not.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import NotLeaderForPartitionError

from taskstream.producer import build_producer
from taskstream.settings import Settings

pytestmark = pytest.mark.integration

# Long enough that the first record is still lingering when the second send looks up its
# topic; short enough that a record stuck without a leader fails within the test.
OPTIONS = {"linger_ms": 500, "request_timeout_ms": 3000}


async def _create(bootstrap: str, name: str, partitions: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, partitions, 1)])
    finally:
        await admin.close()


async def _old_then_new(bootstrap: str, producer: AIOKafkaProducer) -> list[Any]:
    """Send to a topic known at start, then to one created after it; both outcomes."""
    old, new = f"pm-old-{uuid.uuid4().hex[:8]}", f"pm-new-{uuid.uuid4().hex[:8]}"
    await _create(bootstrap, old, 4)
    await producer.start()
    try:
        await _create(bootstrap, new, 1)
        first = await producer.send(old, b"old", key=b"k", partition=2)
        second = await producer.send(new, b"new", key=b"k", partition=0)
        return await asyncio.wait_for(
            asyncio.gather(first, second, return_exceptions=True), timeout=30
        )
    finally:
        await producer.stop()


async def test_build_producer_delivers_to_old_topics_after_a_new_topic_is_looked_up(
    stack: dict[str, Any],
) -> None:
    bootstrap = stack["kafka_bootstrap"]
    producer = build_producer(Settings(kafka_bootstrap=bootstrap), **OPTIONS)
    old, new = await _old_then_new(bootstrap, producer)
    assert not isinstance(old, BaseException), old
    assert not isinstance(new, BaseException), new
    assert (old.partition, new.partition) == (2, 0)


async def test_plain_aiokafka_producer_forgets_topics_known_at_start(
    stack: dict[str, Any],
) -> None:
    """The client behaviour TrackingProducer works around; when aiokafka fixes it, this
    fails and the workaround can go."""
    bootstrap = stack["kafka_bootstrap"]
    old, new = await _old_then_new(
        bootstrap, AIOKafkaProducer(bootstrap_servers=bootstrap, **OPTIONS)
    )
    assert isinstance(old, NotLeaderForPartitionError), old
    assert not isinstance(new, BaseException), new
