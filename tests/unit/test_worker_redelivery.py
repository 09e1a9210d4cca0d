"""A dispatch of an attempt a worker already took is skipped by that worker: the broker
delivered it again, or the scheduler dispatched the attempt again because its start was
late."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aiokafka import ConsumerRecord, TopicPartition

from streams.worker.config import WorkerSettings
from streams.worker.runtime import Worker
from taskstream.codec import encode_dict
from taskstream.registry import Registry
from taskstream.settings import Settings

TP = TopicPartition("ts.dispatch.default", 0)


def _record(
    offset: int, dispatch_id: str, task_id: str = "t1", attempt: int = 1, age: float = 0.0
) -> ConsumerRecord:  # type: ignore[type-arg]
    value = encode_dict(
        {
            "task_id": task_id,
            "queue": "default",
            "type": "demo.echo",
            "attempt": attempt,
            "dispatch_id": dispatch_id,
            "timeout_seconds": 30,
            "dispatched_at": (datetime.now(UTC) - timedelta(seconds=age)).isoformat(),
        }
    )
    return ConsumerRecord(TP.topic, 0, offset, 0, 0, b"t1", value, None, 0, len(value), [])


def _worker(remembered: int) -> Worker:
    return Worker(
        Settings(),
        WorkerSettings(worker_remembered_dispatches=remembered),
        Registry(),
        ["default"],
        2,
    )


async def test_the_same_dispatch_delivered_twice_runs_once() -> None:
    worker = _worker(remembered=2)
    assert await worker._accept(TP, _record(5, "d1")) is not None
    assert await worker._accept(TP, _record(5, "d1")) is None  # redelivered
    assert await worker._accept(TP, _record(6, "d2", task_id="t2")) is not None
    assert await worker._accept(TP, _record(7, "d3", task_id="t3")) is not None
    # Only the last two are remembered: the oldest is forgotten.
    assert await worker._accept(TP, _record(5, "d1")) is not None
    assert worker.metrics.skipped_redelivered._value.get() == 1


async def test_a_late_attempt_dispatched_again_runs_once_here() -> None:
    worker = _worker(remembered=10)
    assert await worker._accept(TP, _record(5, "d1")) is not None
    # The scheduler's dispatch timeout fired before this worker's start reached it.
    assert await worker._accept(TP, _record(9, "d1-again")) is None
    # The next attempt of the same task is another matter.
    assert await worker._accept(TP, _record(12, "d2", attempt=2)) is not None


async def test_a_dispatch_skipped_as_stale_is_not_remembered() -> None:
    worker = _worker(remembered=10)
    assert await worker._accept(TP, _record(5, "d1", age=3600)) is None
    assert worker.metrics.skipped_stale._value.get() == 1
    assert await worker._accept(TP, _record(9, "d1-again")) is not None


async def test_remembering_nothing_takes_every_delivery() -> None:
    worker = _worker(remembered=0)
    assert await worker._accept(TP, _record(5, "d1")) is not None
    assert await worker._accept(TP, _record(5, "d1")) is not None
