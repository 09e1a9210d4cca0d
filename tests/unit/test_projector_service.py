"""The projector runs its consumer loops together: one failing stops the others."""

from __future__ import annotations

import asyncio

import pytest

from projections.service import run_together


async def test_loops_run_until_stop() -> None:
    stop = asyncio.Event()
    finished: list[str] = []

    async def loop(name: str, ev: asyncio.Event) -> None:
        await ev.wait()
        finished.append(name)

    running = asyncio.create_task(
        run_together([lambda ev: loop("events", ev), lambda ev: loop("logs", ev)], stop)
    )
    await asyncio.sleep(0.01)
    assert not running.done()
    stop.set()
    await asyncio.wait_for(running, 1)
    assert sorted(finished) == ["events", "logs"]


async def test_a_failing_loop_stops_the_others_and_raises() -> None:
    stop = asyncio.Event()
    stopped: list[bool] = []

    async def healthy(ev: asyncio.Event) -> None:
        await ev.wait()
        stopped.append(True)

    async def broken(ev: asyncio.Event) -> None:
        raise RuntimeError("postgres went away for good")

    with pytest.raises(RuntimeError, match="went away"):
        await asyncio.wait_for(run_together([healthy, broken], stop), 1)
    assert stop.is_set() and stopped == [True]
