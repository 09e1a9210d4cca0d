"""Attempts and log lines in Postgres, and the logs projector on the broker.

Each test gets its own database (and topics), so the stack's read model is untouched.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from projections.fold import fold_batch
from projections.log_projector import LogProjector
from projections.logs import LogLine, PositionedLine, apply_lines
from projections.migrate import migrate
from projections.postgres import Positioned, apply_batch
from projections.read import ReadModel
from projections.synthetic import stream
from taskstream.codec import encode_dict
from taskstream.producer import build_producer
from taskstream.settings import Settings
from taskstream.topics import base_topic_names, ensure_topics

pytestmark = pytest.mark.integration


@pytest.fixture
async def dsn(stack: dict[str, Any]) -> AsyncIterator[str]:
    name = f"ts_history_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(stack["postgres_dsn"])
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield urlunsplit(urlsplit(stack["postgres_dsn"])._replace(path=f"/{name}"))
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
async def pool(dsn: str) -> AsyncIterator[asyncpg.Pool]:
    p = await asyncpg.create_pool(dsn, min_size=1, max_size=4)
    await migrate(p)
    try:
        yield p
    finally:
        await p.close()


def line(task_id: str, attempt: int, seq: int, message: str = "") -> LogLine:
    return LogLine(
        task_id=task_id,
        tenant="default",
        attempt=attempt,
        seq=seq,
        at=datetime(2026, 1, 1, 12, 0, seq % 60, tzinfo=UTC),
        level="info",
        message=message or f"line {seq}",
    )


async def test_attempt_rows_follow_the_tasks_batch_by_batch(pool: asyncpg.Pool) -> None:
    events = stream(80, seed=41, order="random")
    items = [Positioned(ev, 0, i) for i, ev in enumerate(events)]
    for start in range(0, len(items), 37):
        batch = items[start : start + 37]
        await apply_batch(pool, "tasks", batch, {0: batch[-1].offset})
    await apply_batch(pool, "tasks", items[:50], {0: 49})  # a replay changes nothing
    rm = ReadModel(pool)
    final = fold_batch({}, events).changed
    for state in final.values():
        assert await rm.task_attempts(state.tenant, state.id) == state.as_dict()["attempts"]
    total = sum(len(s.attempts) for s in final.values())
    assert total > 0
    assert await pool.fetchval("SELECT count(*) FROM task_attempts") == total


async def test_log_lines_apply_once_with_their_checkpoints(pool: asyncpg.Pool) -> None:
    batch = [PositionedLine(line("t1", 1, s), 2, 100 + s) for s in range(1, 6)]
    batch.append(PositionedLine(line("t1", 2, 1, "nul \x00 here"), 2, 106))
    first = await apply_lines(pool, "logs", batch, {2: 106})
    again = await apply_lines(pool, "logs", batch[:3], {2: 106})
    assert (first.inserted, again.inserted) == (6, 0)
    rm = ReadModel(pool)
    lines = await rm.task_logs("default", "t1")
    assert [(x["attempt"], x["seq"]) for x in lines] == [(1, s) for s in range(1, 6)] + [(2, 1)]
    assert lines[-1]["message"] == "nul \ufffd here"
    assert await rm.task_logs("other", "t1") == []
    offset = await pool.fetchval(
        "SELECT \"offset\" FROM projection_checkpoints WHERE projection = 'logs' AND partition = 2"
    )
    assert offset == 106


async def test_logs_projector_applies_the_topic_and_dead_letters_junk(
    stack: dict[str, Any], dsn: str, pool: asyncpg.Pool
) -> None:
    settings = Settings(
        kafka_bootstrap=stack["kafka_bootstrap"],
        postgres_dsn=dsn,
        topic_prefix=f"logtest{uuid.uuid4().hex[:8]}",
        partitions=4,
    )
    await ensure_topics(settings, base_topic_names(settings))
    tasks, per_task = 200, 50
    producer = build_producer(settings)
    await producer.start()
    try:
        topic = settings.topic("logs")
        sent = []
        for t in range(tasks):
            for s in range(1, per_task + 1):
                record = encode_dict(line(f"task-{t}", 1, s).model_dump(mode="json"))
                sent.append(await producer.send(topic, record, key=f"task-{t}".encode()))
        sent.append(await producer.send(topic, b"{junk", key=b"junk"))
        await asyncio.gather(*sent)
    finally:
        await producer.stop()
    projector = LogProjector(settings, pool)
    stop = asyncio.Event()
    started = time.perf_counter()
    running = asyncio.create_task(projector.run(stop))
    try:
        deadline = time.monotonic() + 60
        first_seen: float | None = None
        while (n := await pool.fetchval("SELECT count(*) FROM task_logs")) < tasks * per_task:
            assert time.monotonic() < deadline, "log lines not projected in 60 s"
            if n and first_seen is None:
                first_seen = time.perf_counter()
            await asyncio.sleep(0.02)
        done = time.perf_counter()
        # A figure for the report, not an assertion: timing targets live in benchmarks.
        print(
            f"logs projection: {tasks * per_task} lines in {done - started:.2f} s "
            f"({done - (first_seen or started):.2f} s after the group join)"
        )
    finally:
        stop.set()
        await asyncio.wait_for(running, 30)
    rm = ReadModel(pool)
    lines = await rm.task_logs("default", "task-7")
    assert [x["seq"] for x in lines] == list(range(1, per_task + 1))
    covered = await pool.fetchval(
        "SELECT sum(\"offset\" + 1) FROM projection_checkpoints WHERE projection = 'logs'"
    )
    assert covered == tasks * per_task + 1
