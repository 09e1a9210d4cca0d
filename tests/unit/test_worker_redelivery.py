"""A dispatch the broker delivers again is skipped by the worker that already took it."""

from __future__ import annotations

from datetime import UTC, datetime

from aiokafka import ConsumerRecord, TopicPartition

from streams.worker.config import WorkerSettings
from streams.worker.runtime import Worker
from taskstream.codec import encode_dict
from taskstream.registry import Registry
from taskstream.settings import Settings

TP = TopicPartition("ts.dispatch.default", 0)


def _record(offset: int, dispatch_id: str) -> ConsumerRecord:  # type: ignore[type-arg]
    value = encode_dict(
        {
            "task_id": "t1",
            "queue": "default",
            "type": "demo.echo",
            "attempt": 1,
            "dispatch_id": dispatch_id,
            "timeout_seconds": 30,
            "dispatched_at": datetime.now(UTC).isoformat(),
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
    assert await worker._accept(TP, _record(6, "d2")) is not None
    assert await worker._accept(TP, _record(7, "d3")) is not None
    # Only the last two are remembered: the oldest is forgotten.
    assert await worker._accept(TP, _record(5, "d1")) is not None
    assert worker.metrics.skipped_redelivered._value.get() == 1


async def test_remembering_nothing_takes_every_delivery() -> None:
    worker = _worker(remembered=0)
    assert await worker._accept(TP, _record(5, "d1")) is not None
    assert await worker._accept(TP, _record(5, "d1")) is not None
