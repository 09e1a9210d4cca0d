"""A start the scheduler refuses stops the handler that began with it, and nothing is reported.

Covers a task cancelled after its dispatch but before its start: the worker begins the
handler while its start is on the way, the scheduler refuses the start (the task is
cancelled), tells the worker on the control topic, and the worker stops the handler.
"""

from __future__ import annotations

import asyncio
from typing import Any

from streams.worker.control import cancel_target, refused_start
from streams.worker.execution import Running
from taskstream.codec import decode_dict, encode_dict
from taskstream.registry import Registry
from tests.unit.test_scheduler_control import SETTINGS, FakeProducer, _engine, _send
from tests.unit.test_worker_cancel import FakeReporter, _dispatch, _runner


def _control(producer: FakeProducer) -> list[dict[str, Any]]:
    return [decode_dict(v) for t, _, v in producer.sent if t == SETTINGS.topic("control")]


async def test_a_start_after_a_cancel_is_refused_and_its_worker_told() -> None:
    engine, producer = _engine()
    await _send(engine, "task.submit", {"type": "x"}, 1)  # dispatched at once: capacity 4
    dispatch = engine.partitions[0].tasks["t1"].dispatch
    assert dispatch is not None
    await _send(engine, "task.cancel", {"reason": "no"}, 2)  # dispatched, not started
    assert engine.partitions[0].tasks["t1"].status.value == "cancelled"
    start = {"attempt": 1, "dispatch_id": dispatch.dispatch_id, "worker": "w-3"}
    await _send(engine, "attempt.start", start, 3)
    assert _control(producer) == [
        {"kind": "refused", "task_id": "t1", "attempt": 1, "worker": "w-3", "start_id": "c3"}
    ]


async def test_an_accepted_start_tells_nobody() -> None:
    engine, producer = _engine()
    await _send(engine, "task.submit", {"type": "x"}, 1)
    dispatch = engine.partitions[0].tasks["t1"].dispatch
    assert dispatch is not None
    start = {"attempt": 1, "dispatch_id": dispatch.dispatch_id, "worker": "w-3"}
    await _send(engine, "attempt.start", start, 2)
    assert _control(producer) == []


async def test_a_refused_run_is_stopped_and_not_reported() -> None:
    registry, reporter, unwound = Registry(), FakeReporter(), asyncio.Event()

    async def slow(payload: Any) -> None:
        try:
            await asyncio.sleep(30)
        finally:
            unwound.set()

    registry.register("slow", slow)
    running = Running(_dispatch("slow"), start_id="s1")
    job = asyncio.create_task(_runner(registry, reporter, grace=5).run(running))
    await asyncio.sleep(0.1)
    running.refuse()
    await asyncio.wait_for(job, 10)
    assert unwound.is_set() and reporter.reports == []


def test_only_refusals_naming_this_worker_are_acted_on() -> None:
    record = {"kind": "refused", "task_id": "t1", "attempt": 1, "worker": "me", "start_id": "s"}
    assert refused_start(encode_dict(record), "me") == "s"
    assert refused_start(encode_dict(record), "other") is None
    assert refused_start(encode_dict({**record, "kind": "cancel"}), "me") is None
    assert cancel_target(encode_dict(record), "me") is None  # not a cancel of a running task
