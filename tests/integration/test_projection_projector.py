"""The projector service against the stack's broker and Postgres.

Each test uses its own topic prefix and its own database, so the stack's own projector
and read model are untouched.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import orjson
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from projections.config import ProjectorSettings
from projections.fold import fold_batch
from projections.migrate import migrate
from projections.projector import Projector
from projections.read import ReadModel
from projections.service import serve
from projections.synthetic import stream
from taskstream.codec import encode
from taskstream.domain.envelope import Envelope
from taskstream.kafka import plain_consumer_options
from taskstream.producer import build_producer
from taskstream.settings import Settings
from tests.integration.helpers import fresh_settings

pytestmark = pytest.mark.integration


@pytest.fixture
async def settings(stack: dict[str, Any]) -> AsyncIterator[Settings]:
    """Settings on a fresh database and fresh topics."""
    async with fresh_settings(stack, "projector", projector_batch_size=500) as s:
        yield s


async def produce(settings: Settings, events: list[Envelope], junk: int = 0) -> None:
    producer = build_producer(settings)
    await producer.start()
    try:
        topic = settings.topic("events")
        futures = [await producer.send(topic, encode(ev), key=ev.task_id.encode()) for ev in events]
        for i in range(junk):
            futures.append(await producer.send(topic, b"{not json", key=f"junk{i}".encode()))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def eventually(probe: Callable[[], Awaitable[Any]], timeout: float = 90.0) -> Any:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = await probe()
        if last:
            return last
        await asyncio.sleep(0.2)
    raise AssertionError(f"not reached in {timeout} s: {last!r}")


def caught_up(pool: asyncpg.Pool, records: int) -> Callable[[], Awaitable[bool]]:
    """True once the checkpoints cover `records` records (offsets start at 0)."""

    async def probe() -> bool:
        covered = await pool.fetchval(
            'SELECT coalesce(sum("offset" + 1), 0) FROM projection_checkpoints'
        )
        return int(covered) >= records

    return probe


async def assert_read_model(pool: asyncpg.Pool, events: list[Envelope]) -> None:
    rm = ReadModel(pool)
    final = fold_batch({}, events).changed
    for tid, state in final.items():
        assert await rm.get_task(state.tenant, tid) == state.as_dict()
    assert await pool.fetchval("SELECT count(*) FROM tasks") == len(final)
    assert await pool.fetchval("SELECT count(*) FROM task_events") == len(events)


async def deadletters(settings: Settings) -> list[dict[str, Any]]:
    topic = settings.topic("deadletter")
    consumer = AIOKafkaConsumer(**plain_consumer_options(settings))
    await consumer.start()
    try:
        parts = [TopicPartition(topic, p) for p in range(settings.partitions)]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        fetched = await consumer.getmany(timeout_ms=2000)
        return [orjson.loads(r.value) for records in fetched.values() for r in records]
    finally:
        await consumer.stop()


async def test_projector_applies_the_log_and_resumes_from_its_checkpoints(
    settings: Settings,
) -> None:
    first = stream(120, seed=31)
    await produce(settings, first, junk=2)
    stop = asyncio.Event()
    running = asyncio.create_task(serve(settings, stop, ProjectorSettings()))
    pool = await asyncpg.create_pool(settings.postgres_dsn, min_size=1, max_size=2)
    try:
        await eventually(lambda: pool.fetchval("SELECT to_regclass('projection_checkpoints')"))
        await eventually(caught_up(pool, len(first) + 2))
        stop.set()
        await asyncio.wait_for(running, 30)
        await assert_read_model(pool, first)

        dead = await deadletters(settings)
        assert len(dead) == 2, [(d["partition"], d["offset"]) for d in dead]
        assert {d["source_topic"] for d in dead} == {settings.topic("events")}
        assert all(d["value"] == "{not json" and d["error"] for d in dead)
        assert all(isinstance(d["partition"], int) and d["offset"] >= 0 for d in dead)

        # Restarted, it starts after its checkpoints: only the new events are applied.
        second = stream(60, seed=32)
        await produce(settings, second)
        projector = Projector(settings, pool)
        stop = asyncio.Event()
        running = asyncio.create_task(projector.run(stop))
        await eventually(caught_up(pool, len(first) + len(second) + 2))
        stop.set()
        await asyncio.wait_for(running, 30)
        assert projector.applied_events == len(second)
        await assert_read_model(pool, first + second)
    finally:
        stop.set()
        await asyncio.wait_for(running, 30)
        await pool.close()


async def test_records_postgres_refuses_are_dead_lettered_and_the_rest_applied(
    settings: Settings,
) -> None:
    """A record that decodes but that Postgres refuses (here a version beyond `integer`)
    must not stall its partition: it goes to the dead-letter topic with the refusal, the
    rest of its batch is applied, and a rebuild from the log skips it the same way."""
    from projections.replay.rebuild import Replayer

    good = stream(150, seed=34)
    poison = [
        Envelope(
            event_id=f"poison-{i}",
            type="task.dispatched",
            task_id=f"poison-task-{i}",
            version=2**31 + i,
            occurred_at=good[0].occurred_at,
            payload={"attempt": 1, "dispatch_id": "d", "dispatched_at": "2025-01-01T00:00:00Z"},
        )
        for i in range(3)
    ]
    mixed = [*good[:40], poison[0], *good[40:90], *poison[1:], *good[90:]]
    await produce(settings, mixed)
    stop = asyncio.Event()
    running = asyncio.create_task(serve(settings, stop, ProjectorSettings()))
    pool = await asyncpg.create_pool(settings.postgres_dsn, min_size=1, max_size=2)
    try:
        await eventually(lambda: pool.fetchval("SELECT to_regclass('projection_checkpoints')"))
        await eventually(caught_up(pool, len(mixed)))
        stop.set()
        await asyncio.wait_for(running, 30)
        await assert_read_model(pool, good)

        dead = await deadletters(settings)
        assert sorted(d["value"] for d in dead) == sorted(encode(p).decode() for p in poison)
        assert all("out of range" in d["error"] for d in dead), dead
        assert {d["source_topic"] for d in dead} == {settings.topic("events")}

        replayer = Replayer(settings, f"refused_{uuid.uuid4().hex[:8]}")
        try:
            await replayer.open()
            await replayer.bulk(replayer.head_targets())
            report = replayer.report()
        finally:
            await replayer.close()
        assert report.refused == len(poison)
        assert report.events == len(mixed)
        rebuilt = await pool.fetchval(f'SELECT count(*) FROM "{report.schema}".task_events')
        assert rebuilt == len(good)
    finally:
        stop.set()
        await asyncio.wait_for(running, 30)
        await pool.close()


async def test_members_joining_and_leaving_keep_the_read_model_exact(settings: Settings) -> None:
    events = stream(400, seed=33)
    third = len(events) // 3
    pool = await asyncpg.create_pool(settings.postgres_dsn, min_size=1, max_size=6)
    await migrate(pool)
    stop_a, stop_b = asyncio.Event(), asyncio.Event()
    first, second = Projector(settings, pool), Projector(settings, pool)
    a = asyncio.create_task(first.run(stop_a))
    b: asyncio.Task[None] | None = None
    try:
        await produce(settings, events[:third])
        await eventually(caught_up(pool, third))
        b = asyncio.create_task(second.run(stop_b))
        await produce(settings, events[third : 2 * third])
        await asyncio.sleep(3)  # let the second member join while records flow
        await produce(settings, events[2 * third :])
        stop_a.set()
        await asyncio.wait_for(a, 30)
        await eventually(caught_up(pool, len(events)))
        await assert_read_model(pool, events)
        assert first.applied_events > 0 and second.applied_events > 0
    finally:
        stop_a.set()
        stop_b.set()
        await asyncio.wait_for(a, 30)
        if b is not None:
            await asyncio.wait_for(b, 30)
        await pool.close()
