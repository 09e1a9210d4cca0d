"""A consumer on the real broker: its Fetch wait grows after a quiet spell and comes back
with the first records (`taskstream.fetch_idle`, installed by every service)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from taskstream import fetch_idle
from taskstream.kafka import plain_consumer_options
from taskstream.producer import build_producer
from taskstream.settings import Settings
from taskstream.topics import base_topic_names, ensure_topics

pytestmark = pytest.mark.integration


@pytest.fixture
def settings(stack: dict[str, Any]) -> Iterator[Settings]:
    s = Settings(
        kafka_bootstrap=stack["kafka_bootstrap"],
        topic_prefix=f"idle{uuid.uuid4().hex[:6]}",
        fetch_max_wait_ms=10,
        fetch_idle_wait_ms=120,
        fetch_idle_after_ms=300,
    )
    fetch_idle.install(s)
    yield s
    fetch_idle.install(s.model_copy(update={"fetch_idle_wait_ms": 0}))  # off again


async def _scenario(settings: Settings) -> tuple[int, int, int, float]:
    await ensure_topics(settings, base_topic_names(settings))
    topic = settings.topic("logs")
    producer = build_producer(settings, linger_ms=0)
    consumer = AIOKafkaConsumer(**plain_consumer_options(settings))
    await producer.start()
    await consumer.start()
    tp = TopicPartition(topic, 0)
    try:
        consumer.assign([tp])
        mark = await producer.send_and_wait(topic, b"mark", partition=0)
        consumer.seek(tp, mark.offset)
        assert await consumer.getmany(tp, timeout_ms=5000)
        fetcher = consumer._fetcher
        busy = fetch_idle.current_wait_ms(fetcher)
        await consumer.getmany(tp, timeout_ms=800)  # nothing comes: the quiet spell
        idle = fetch_idle.current_wait_ms(fetcher)
        sent = time.monotonic()
        await producer.send_and_wait(topic, b"x", partition=0)
        while not await consumer.getmany(tp, timeout_ms=5000):
            pass
        took = time.monotonic() - sent
        await asyncio.sleep(0.05)  # the next Fetch is built after the records came back
        return busy, idle, fetch_idle.current_wait_ms(fetcher), took
    finally:
        await consumer.stop()
        await producer.stop()


def test_the_wait_grows_while_idle_and_comes_back_with_records(settings: Settings) -> None:
    busy, idle, after, took = asyncio.run(_scenario(settings))
    assert busy == 10
    assert idle == 120
    assert after == 10
    assert took < 2.0  # the record still came, within a few idle waits
