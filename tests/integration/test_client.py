"""`taskstream.Client` on the live stack, over REST and straight onto the log."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from taskstream import Client, TaskstreamAPIError

pytestmark = pytest.mark.integration


def rest(stack: dict[str, Any]) -> Client:
    return Client.rest(stack["api_url"], stack["api_key"])


async def test_rest_submit_and_batch_reach_succeeded(stack: dict[str, Any]) -> None:
    async with rest(stack) as client:
        one = await client.submit("demo.echo", {"n": -1}, priority=8, labels={"via": "rest"})
        many = await client.submit_many(
            {"type": "demo.echo", "payload": {"n": i}} for i in range(50)
        )
        for task_id in [one, *many]:
            assert (await client.wait(task_id, timeout=90))["status"] == "succeeded"
        task = await client.get(many[7])
        assert task["result"] == {"n": 7}
        with pytest.raises(TaskstreamAPIError) as caught:
            await client.submit_many([{"type": "demo.echo"}, {"type": "demo.echo", "priority": 10}])
    assert caught.value.status == 422
    assert caught.value.errors[0]["field"] == "tasks[1].priority"


async def test_kafka_submit_and_batch_reach_succeeded(stack: dict[str, Any]) -> None:
    key = f"client-{uuid.uuid4().hex}"
    async with Client.kafka(stack["kafka_bootstrap"]) as producer, rest(stack) as client:
        one = await producer.submit("demo.echo", {"n": "k"}, idempotency_key=key)
        many = await producer.submit_many(
            [{"type": "demo.echo", "payload": {"n": i}, "priority": 9} for i in range(20)]
        )
        for task_id in [one, *many]:
            assert (await client.wait(task_id, timeout=90))["status"] == "succeeded"
        # The same key over REST names the same task: the idempotency ids are shared.
        assert await client.submit("demo.echo", {"n": "k"}, idempotency_key=key) == one
        assert (await client.get(many[3]))["priority"] == 9


async def test_kafka_cancel_of_a_scheduled_task(stack: dict[str, Any]) -> None:
    later = datetime.now(UTC) + timedelta(hours=1)
    async with Client.kafka(stack["kafka_bootstrap"]) as producer, rest(stack) as client:
        task_id = await producer.submit("demo.echo", run_at=later)
        await producer.cancel(task_id, "changed my mind")
        task = await client.wait(task_id, timeout=60)
    assert task["status"] == "cancelled"


async def test_kafka_mode_refuses_what_the_scheduler_would(stack: dict[str, Any]) -> None:
    async with Client.kafka(stack["kafka_bootstrap"]) as producer:
        with pytest.raises(ValueError, match="priority"):
            await producer.submit("demo.echo", priority=10)
