"""The scheduler tells a running attempt's worker about a cancel on the control topic."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

from streams.scheduler.engine import Scheduler
from streams.scheduler.partition import PartitionState
from streams.scheduler.workers import WorkerDirectory
from taskstream.codec import decode_dict, encode
from taskstream.settings import Settings
from tests.unit.scenario import T0, command

SETTINGS = Settings(partitions=1, default_queue_capacity=4)


class FakeProducer:
    """Keeps every record; each send is acknowledged at once."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, bytes]] = []

    async def send(self, topic: str, value: bytes, key: bytes, partition: int | None) -> Any:
        self.sent.append((topic, key, value))
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


def _engine() -> tuple[Scheduler, FakeProducer]:
    producer = FakeProducer()
    engine = Scheduler(
        SETTINGS,
        producer,
        WorkerDirectory(SETTINGS),
        clock=T0.timestamp,  # type: ignore[arg-type]
    )
    engine.partitions[0] = PartitionState(0, engine.timing)
    engine._queues.add("default")  # its dispatch topic "exists": no broker in a unit test
    return engine, producer


async def _send(engine: Scheduler, type_: str, payload: dict[str, Any], n: int) -> None:
    await engine.handle([(0, n, encode(command(type_, payload, cid=f"c{n}")))])


def _control(producer: FakeProducer) -> list[dict[str, Any]]:
    return [decode_dict(v) for t, _, v in producer.sent if t == SETTINGS.topic("control")]


async def test_a_cancel_request_sends_one_control_record_naming_the_worker() -> None:
    engine, producer = _engine()
    await _send(engine, "task.submit", {"type": "x"}, 1)  # dispatched at once: capacity 4
    dispatch = engine.partitions[0].tasks["t1"].dispatch
    assert dispatch is not None
    start = {"attempt": 1, "dispatch_id": dispatch.dispatch_id, "worker": "w-7"}
    await _send(engine, "attempt.start", start, 2)
    assert _control(producer) == []
    await _send(engine, "task.cancel", {"reason": "stop"}, 3)
    assert _control(producer) == [
        {"kind": "cancel", "task_id": "t1", "attempt": 1, "worker": "w-7"}
    ]
    await _send(engine, "attempt.cancel", {"attempt": 1, "worker": "w-7"}, 4)
    assert engine.partitions[0].tasks["t1"].status.value == "cancelled"
    assert len(_control(producer)) == 1


async def test_a_rebuilt_partition_tells_the_workers_again_on_the_next_tick() -> None:
    engine, producer = _engine()
    await _send(engine, "task.submit", {"type": "x"}, 1)
    dispatch = engine.partitions[0].tasks["t1"].dispatch
    assert dispatch is not None
    start = {"attempt": 1, "dispatch_id": dispatch.dispatch_id, "worker": "w-7"}
    await _send(engine, "attempt.start", start, 2)
    await _send(engine, "task.cancel", {}, 3)
    rebuilt = engine.partitions.pop(0)

    async def rebuild() -> PartitionState:
        return rebuilt

    engine._rebuilds[0] = asyncio.create_task(rebuild())
    await engine.partition(0)
    await engine.tick()
    assert len(_control(producer)) == 2


async def test_a_rebuilt_partition_dispatches_without_waiting_for_a_command() -> None:
    engine, producer = _engine()
    await _send(engine, "task.submit", {"type": "x"}, 1)
    state = engine.partitions.pop(0)
    state.tasks["t1"] = replace(state.tasks["t1"], dispatch=None)  # as if never dispatched
    state.ready["default"]["default"].append(((0, 0.0, 0), "t1"))
    before = len(producer.sent)

    async def rebuild() -> PartitionState:
        return state

    engine._rebuilds[0] = asyncio.create_task(rebuild())
    await asyncio.sleep(0)
    await engine.tick()
    assert 0 in engine.partitions
    dispatched = [
        t for t, _, _ in producer.sent[before:] if t == SETTINGS.dispatch_topic("default")
    ]
    assert dispatched
