"""A projector process killed with SIGKILL in the middle of a batch transaction resumes
from its checkpoints: nothing lost, nothing applied twice, and verify agrees.

Its own database and topics, so the stack's read model is untouched.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from projections.fold import fold_batch
from projections.read import ReadModel
from projections.replay.config import ReplaySettings
from projections.replay.verify import verify
from projections.synthetic import stream
from taskstream.codec import encode
from taskstream.producer import build_producer
from taskstream.settings import Settings
from tests.integration.helpers import eventually, fresh_settings

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def settings(stack: dict[str, Any]) -> AsyncIterator[Settings]:
    """Settings on a fresh database and fresh topics."""
    async with fresh_settings(stack, "kill") as s:
        yield s


def start_projector(settings: Settings) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "TASKSTREAM_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "TASKSTREAM_POSTGRES_DSN": settings.postgres_dsn,
        "TASKSTREAM_TOPIC_PREFIX": settings.topic_prefix,
        "TASKSTREAM_PARTITIONS": str(settings.partitions),
        "TASKSTREAM_PROJECTOR_BATCH_SIZE": "400",
        "TASKSTREAM_LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "taskstream", "projector"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def covered(conn: asyncpg.Connection) -> int:
    if not await conn.fetchval("SELECT to_regclass('projection_checkpoints') IS NOT NULL"):
        return 0
    return int(
        await conn.fetchval(
            'SELECT coalesce(sum("offset" + 1), 0) FROM projection_checkpoints'
            " WHERE projection = 'tasks'"
        )
    )


async def test_projector_killed_mid_batch_resumes_without_loss_or_duplicates(
    settings: Settings,
) -> None:
    events = stream(2500, seed=41)
    producer = build_producer(settings)
    await producer.start()
    try:
        futures = [
            await producer.send(settings.topic("events"), encode(ev), key=ev.task_id.encode())
            for ev in events
        ]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    conn = await asyncpg.connect(settings.postgres_dsn)
    proc = start_projector(settings)
    try:
        await eventually(lambda: covered(conn), timeout=120, every=0.05)
        # Kill while one of its batch transactions is open: mid-batch, not between batches.
        open_tx = 0
        for _ in range(5000):
            open_tx = await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND pid <> pg_backend_pid() AND xact_start IS NOT NULL"
                " AND query NOT LIKE 'SELECT pg_advisory_unlock%'"
            )
            if open_tx:
                break
            await asyncio.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        assert open_tx, "no batch transaction was seen open"
        killed_at = await covered(conn)
        assert 0 < killed_at < len(events), "the kill must land mid-stream"

        proc = start_projector(settings)

        async def done() -> bool:
            return await covered(conn) >= len(events)

        await eventually(done, timeout=180)
        # Nothing lost, nothing twice: the archive holds each offset once and every task
        # is the fold of its events.
        archived = await conn.fetchval("SELECT count(*) FROM task_events")
        assert archived == len(events)
        rm = ReadModel(conn)
        final = fold_batch({}, events).changed
        assert await conn.fetchval("SELECT count(*) FROM tasks") == len(final)
        for tid, state in list(final.items())[:300]:
            assert await rm.get_task(state.tenant, tid) == state.as_dict()
        # Small batches: the shadow is built by two worker processes (the parallel path).
        replay = ReplaySettings(replay_batch_size=1000, replay_workers=2)
        result = await verify(settings, replay=replay)
        assert result.differences == 0, [d.describe() for t in result.tables for d in t.shown]
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
        await conn.close()
