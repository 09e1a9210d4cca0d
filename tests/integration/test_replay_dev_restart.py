"""`taskstream dev` stopped and started again on the same data directory keeps every task.

The embedded broker's log lives in memory; on start the supervisor writes the Postgres
archive back to it before the services run. Finished tasks keep their history, tasks
still waiting when the stack stopped finish after the restart, and the projector goes
on from its checkpoints (verify finds the model equal to the restored log).

This test runs its own stack (not the session's) and keeps it short.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

import pytest

from projections.replay.verify import verify
from taskstream.settings import Settings
from taskstream.stack.launch import LaunchedStack
from tests.integration.conftest import STACK_ENV
from tests.integration.helpers import api, events, statuses, submit_many, task, wait_terminal

pytestmark = pytest.mark.integration


async def submit(info: dict[str, Any], bodies: list[dict[str, Any]]) -> list[str]:
    async with api(info) as client:
        return await submit_many(client, bodies)


async def test_a_restarted_dev_stack_keeps_every_task_and_finishes_the_waiting_ones() -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="taskstream-restart-"))
    first = LaunchedStack(data_dir, env=STACK_ENV, args=["--worker-queues", "default"])
    info = await asyncio.to_thread(first.start)
    try:
        done = await submit(info, [{"type": "demo.echo", "payload": {"i": i}} for i in range(6)])
        await wait_terminal(info["postgres_dsn"], done)
        # No worker consumes "later": these wait, pending, until the next run.
        waiting = await submit(
            info, [{"type": "demo.echo", "queue": "later", "payload": {"i": i}} for i in range(4)]
        )
        delayed = await submit(info, [{"type": "demo.echo", "delay_seconds": 3600}])

        async def all_pending() -> bool:
            now = await statuses(info["postgres_dsn"], waiting + delayed)
            return len(now) == 5 and set(now.values()) <= {"pending", "scheduled"}

        await wait_terminal_or(all_pending)
        async with api(info) as client:
            history = {tid: await events(client, tid) for tid in done}
    finally:
        await asyncio.to_thread(first.stop)

    second = LaunchedStack(data_dir, env=STACK_ENV, args=["--worker-queues", "default,later"])
    info = await asyncio.to_thread(second.start)
    try:
        # Every earlier task is there, finished ones with the same history.
        now = await statuses(info["postgres_dsn"], done + waiting + delayed)
        assert len(now) == 11
        async with api(info) as client:
            for tid in done:
                assert (await task(client, tid))["status"] == "succeeded"
                assert await events(client, tid) == history[tid]
        # The waiting ones finish now that a worker takes their queue.
        finished = await wait_terminal(info["postgres_dsn"], waiting, timeout=120)
        assert set(finished.values()) == {"succeeded"}
        assert (await statuses(info["postgres_dsn"], delayed))[delayed[0]] == "scheduled"
        # New work goes on from the restored offsets; the model matches the log exactly.
        fresh = await submit(info, [{"type": "demo.echo", "payload": {"new": True}}])
        await wait_terminal(info["postgres_dsn"], fresh)
        settings = Settings(
            kafka_bootstrap=info["kafka_bootstrap"], postgres_dsn=info["postgres_dsn"]
        )
        result = await verify(settings)
        assert result.differences == 0, [d.describe() for t in result.tables for d in t.shown]
        log = (data_dir / "logs" / "supervisor.log").read_text()
        assert "log restored from the postgres archive" in log
    finally:
        await asyncio.to_thread(second.stop)


async def wait_terminal_or(probe: Any) -> None:
    from tests.integration.helpers import eventually

    await eventually(probe, timeout=60)
