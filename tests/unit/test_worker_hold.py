"""A start held for its time does not occupy a worker slot, and never exceeds concurrency."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from streams.worker.runtime import Worker
from streams.worker.slots import Slots


async def test_a_held_start_frees_its_slot_and_takes_one_back_for_the_start() -> None:
    slots = Slots(1)
    assert slots.try_take()  # the held dispatch's own slot
    owner = SimpleNamespace(_slots=slots)
    held = asyncio.create_task(Worker._hold(owner, 0.05))  # type: ignore[arg-type]
    await asyncio.sleep(0.01)
    assert slots.try_take()  # another attempt runs meanwhile
    await asyncio.sleep(0.08)
    assert not held.done()  # its time came, but the worker is full: it waits
    slots.release()
    await asyncio.wait_for(held, 2)
    assert slots.used == 1  # its slot again, for the caller to release


async def test_a_held_start_cancelled_leaves_the_slots_balanced() -> None:
    slots = Slots(2)
    assert slots.try_take()
    owner = SimpleNamespace(_slots=slots)
    held = asyncio.create_task(Worker._hold(owner, 10))  # type: ignore[arg-type]
    await asyncio.sleep(0.01)
    assert slots.used == 0
    held.cancel()
    with pytest.raises(asyncio.CancelledError):
        await held
    assert slots.used == 1  # the caller's `finally` releases it
    slots.release()
    assert slots.used == 0
