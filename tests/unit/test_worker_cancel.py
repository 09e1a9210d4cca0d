"""A worker stops an attempt whose task was cancelled, async or sync, and says so."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from streams.worker.control import cancel_target
from streams.worker.dispatch import Dispatch
from streams.worker.execution import AttemptRunner, LogLimits, Running
from streams.worker.heartbeat import AttemptBeats
from streams.worker.logsink import LogShipper
from streams.worker.metrics import WorkerMetrics
from taskstream.codec import encode_dict
from taskstream.registry import Registry, TaskContext


class FakeReporter:
    """Records the outcome reports."""

    def __init__(self) -> None:
        self.reports: list[tuple[str, Any]] = []
        self.reported = asyncio.Event()

    async def succeed(self, d: Dispatch, result: Any) -> None:
        self.reports.append(("succeed", result))

    async def fail(self, d: Dispatch, failure: Any) -> None:
        self.reports.append(("fail", failure.error))

    async def cancelled(self, d: Dispatch) -> None:
        self.reports.append(("cancelled", d.attempt))
        self.reported.set()

    async def heartbeat(self, d: Dispatch) -> None:
        """Not reported in these tests."""


class NullProducer:
    async def send_raw(self, topic: str, key: bytes, record: dict[str, Any]) -> None:
        """Log lines go nowhere."""


def _dispatch(type_: str) -> Dispatch:
    return Dispatch(
        task_id="t1",
        queue="default",
        type=type_,
        payload=None,
        attempt=2,
        dispatch_id="d1",
        timeout_seconds=30,
        dispatched_at=datetime.now(UTC),
    )


def _runner(registry: Registry, reporter: FakeReporter, grace: float) -> AttemptRunner:
    return AttemptRunner(
        registry=registry,
        queues=["default"],
        reporter=reporter,  # type: ignore[arg-type]
        beats=AttemptBeats(reporter.heartbeat, 10.0),
        shipper=LogShipper(NullProducer(), "logs"),  # type: ignore[arg-type]
        metrics=WorkerMetrics(),
        executor=ThreadPoolExecutor(2),
        log_limits=LogLimits(100, 1000),
        max_result_bytes=10_000,
        cancel_grace=grace,
    )


async def _run_and_cancel(runner: AttemptRunner, type_: str) -> None:
    """Start an attempt whose handler would run 30 s, cancel it, wait for it to end."""
    running = Running(_dispatch(type_))
    job = asyncio.create_task(runner.run(running))
    await asyncio.sleep(0.1)
    running.cancel()
    await asyncio.wait_for(job, 10)


async def test_an_async_handler_is_cancelled_and_reported_cancelled() -> None:
    registry, reporter, unwound = Registry(), FakeReporter(), asyncio.Event()

    async def slow(payload: Any) -> None:
        try:
            await asyncio.sleep(30)
        finally:
            unwound.set()

    registry.register("slow", slow)
    await _run_and_cancel(_runner(registry, reporter, grace=5), "slow")
    assert reporter.reports == [("cancelled", 2)] and unwound.is_set()


async def test_a_sync_handler_sees_ctx_cancelled_and_returns() -> None:
    registry, reporter, seen = Registry(), FakeReporter(), threading.Event()

    def polite(payload: Any, ctx: TaskContext) -> str:
        for _ in range(3000):  # 30 s, unless cancelled
            if ctx.cancelled:
                seen.set()
                return "stopped"
            time.sleep(0.01)
        return "ran to the end"

    registry.register("polite", polite)
    await _run_and_cancel(_runner(registry, reporter, grace=5), "polite")
    assert seen.is_set() and reporter.reports == [("cancelled", 2)]


async def test_a_sync_handler_that_ignores_the_cancel_is_given_up_on_after_the_grace() -> None:
    registry, reporter, release = Registry(), FakeReporter(), threading.Event()

    def stubborn(payload: Any) -> None:
        release.wait(10)

    registry.register("stubborn", stubborn)
    runner = _runner(registry, reporter, grace=0.2)
    running = Running(_dispatch("stubborn"))
    job = asyncio.create_task(runner.run(running))
    await asyncio.sleep(0.1)
    running.cancel()

    await asyncio.wait_for(reporter.reported.wait(), 5)
    # Reported before the thread returned; the slot is held until it does.
    assert reporter.reports == [("cancelled", 2)] and not job.done()
    release.set()
    await asyncio.wait_for(job, 5)


def test_only_cancel_records_naming_this_worker_are_acted_on() -> None:
    record = {"kind": "cancel", "task_id": "t1", "attempt": 3, "worker": "me"}
    assert cancel_target(encode_dict(record), "me") == ("t1", 3)
    assert cancel_target(encode_dict(record), "someone-else") is None
    assert cancel_target(encode_dict({**record, "attempt": True}), "me") is None
    assert cancel_target(encode_dict({**record, "kind": "pause"}), "me") is None
    assert cancel_target(b"not json", "me") is None
