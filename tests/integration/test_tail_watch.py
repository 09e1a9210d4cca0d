"""A tail follower asks the broker at the readers' wait only while a client watches."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from api.tails.filters import TailFilter
from api.tails.service import TailService
from projections.synthetic import stream
from taskstream.codec import encode
from taskstream.fetch_idle import current_wait_ms
from taskstream.producer import build_producer
from taskstream.settings import Settings
from taskstream.topics import base_topic_names, ensure_topics

pytestmark = pytest.mark.integration


def _wait(service: TailService) -> int:
    follower = service._followers["events"]
    assert follower._consumer is not None
    return current_wait_ms(follower._consumer._fetcher)


async def _scenario(settings: Settings) -> None:
    await ensure_topics(settings, base_topic_names(settings))
    service = TailService(settings)
    producer = build_producer(settings, linger_ms=0)
    await producer.start()
    try:
        await service.follower("events")
        assert _wait(service) == settings.fetch_background_wait_ms  # nobody watching
        first = await service.subscribe(
            tenant="default", key_id="k", flt=TailFilter("events"), cursor=None, lookup=None
        )
        second = await service.subscribe(
            tenant="default", key_id="k", flt=TailFilter("events"), cursor=None, lookup=None
        )
        assert _wait(service) == settings.fetch_observer_wait_ms
        event = stream(1, seed=2)[0]
        await producer.send_and_wait(settings.topic("events"), encode(event), key=b"t")
        got = await asyncio.wait_for(first.subscriber.get(), 10.0)
        assert got is not None and got.task_id == event.task_id
        first.close()
        assert _wait(service) == settings.fetch_observer_wait_ms  # one still watches
        second.close()
        assert _wait(service) == settings.fetch_background_wait_ms
    finally:
        await producer.stop()
        await service.close()


def test_the_follower_waits_longer_while_nobody_watches(stack: dict[str, Any]) -> None:
    settings = Settings(
        kafka_bootstrap=stack["kafka_bootstrap"],
        topic_prefix=f"watch{uuid.uuid4().hex[:6]}",
        # Both above the idle wait (50 ms) that a service's `fetch_idle.install` may have
        # set for this process: an idle consumer takes the longer of the two.
        fetch_observer_wait_ms=60,
        fetch_background_wait_ms=300,
    )
    asyncio.run(_scenario(settings))
