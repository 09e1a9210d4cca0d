"""The scheduler honours queue settings: pause, resume, limits over partitions, tenants."""

from __future__ import annotations

import asyncio
from typing import Any

from streams.scheduler.engine import Scheduler
from streams.scheduler.partition import PartitionState
from streams.scheduler.queues import QueueDirectory
from streams.scheduler.workers import WorkerDirectory
from taskstream.codec import decode_dict, encode
from taskstream.domain import queue_model as q
from taskstream.domain.envelope import Envelope
from taskstream.settings import Settings
from tests.unit.scenario import T0
from tests.unit.test_scheduler_control import FakeProducer

SETTINGS = Settings(partitions=2, default_queue_capacity=50, capacity_overcommit=1.0)


def _engine(queues: QueueDirectory | None = None) -> tuple[Scheduler, FakeProducer]:
    producer = FakeProducer()
    engine = Scheduler(
        SETTINGS,
        producer,
        WorkerDirectory(SETTINGS),
        queues=queues,
        clock=T0.timestamp,  # type: ignore[arg-type]
    )
    for p in (0, 1):
        engine.partitions[p] = PartitionState(p, engine.timing)
    engine._queues.add("default")  # its dispatch topic "exists": no broker in a unit test
    return engine, producer


def _cmd(type_: str, task_id: str, payload: dict[str, Any], cid: str, tenant: str) -> bytes:
    return encode(
        Envelope(
            event_id=cid,
            type=type_,
            task_id=task_id,
            occurred_at=T0,
            tenant=tenant,
            payload=payload,
        )
    )


async def _queue(engine: Scheduler, type_: str, payload: dict[str, Any], n: int) -> None:
    raw = _cmd(type_, q.queue_id("acme", "default"), payload, f"q{n}", "acme")
    await engine.handle([(0, n, raw)])


async def _submit(engine: Scheduler, n: int, *, tenant: str = "acme") -> None:
    raw = _cmd("task.submit", f"{tenant}-t{n}", {"type": "x"}, f"s-{tenant}-{n}", tenant)
    await engine.handle([(n % 2, 100 + n, raw)])


def _dispatched(producer: FakeProducer) -> list[str]:
    topic = SETTINGS.dispatch_topic("default")
    return [decode_dict(v)["task_id"] for t, _, v in producer.sent if t == topic]


def _inflight(engine: Scheduler, tenant: str) -> int:
    return sum(st.inflight_count("default", tenant) for st in engine.partitions.values())


async def test_a_paused_queue_dispatches_nothing_until_resumed_then_at_once() -> None:
    engine, producer = _engine()
    await _queue(engine, q.PAUSE_QUEUE, {}, 1)
    for n in range(6):
        await _submit(engine, n)
    await engine.tick()
    assert _dispatched(producer) == []
    states = [t.status.value for st in engine.partitions.values() for t in st.tasks.values()]
    assert states == ["pending"] * 6  # ready, waiting
    await _queue(engine, q.RESUME_QUEUE, {}, 2)  # no submit follows: the resume alone
    assert sorted(_dispatched(producer)) == sorted(f"acme-t{n}" for n in range(6))


async def test_a_pause_of_one_tenant_leaves_another_tenants_queue_running() -> None:
    engine, producer = _engine()
    await _queue(engine, q.PAUSE_QUEUE, {}, 1)
    await _submit(engine, 1, tenant="acme")
    await _submit(engine, 2, tenant="other")
    assert _dispatched(producer) == ["other-t2"]


async def test_the_limit_holds_over_all_partitions_and_frees_slots_as_attempts_end() -> None:
    engine, producer = _engine()
    await _queue(engine, q.SET_QUEUE_LIMIT, {"limit": 3}, 1)
    for n in range(10):
        await _submit(engine, n)
    assert len(_dispatched(producer)) == 3 and _inflight(engine, "acme") == 3
    # Finish one attempt: exactly one more is dispatched, whichever partition holds it.
    first = _dispatched(producer)[0]
    p = next(p for p, st in engine.partitions.items() if first in st.tasks)
    task = engine.partitions[p].tasks[first]
    assert task.dispatch is not None
    start = {"attempt": 1, "dispatch_id": task.dispatch.dispatch_id, "worker": "w"}
    await engine.handle([(p, 500, _cmd("attempt.start", first, start, "st", "acme"))])
    assert _inflight(engine, "acme") == 3
    done = {"attempt": 1, "worker": "w"}
    await engine.handle([(p, 501, _cmd("attempt.succeed", first, done, "ok", "acme"))])
    assert len(_dispatched(producer)) == 4 and _inflight(engine, "acme") == 3
    await _queue(engine, q.SET_QUEUE_LIMIT, {"limit": None}, 2)
    assert len(_dispatched(producer)) == 10


async def test_every_queue_event_is_broadcast_and_a_rebuilt_partition_broadcasts_again() -> None:
    engine, producer = _engine()
    await _queue(engine, q.PAUSE_QUEUE, {}, 1)
    await _queue(engine, q.SET_QUEUE_LIMIT, {"limit": 2}, 2)
    topic = SETTINGS.topic("queues")
    records = [decode_dict(v) for t, _, v in producer.sent if t == topic]
    assert records[-1] == {
        "queue_id": "que_acme:default",
        "tenant": "acme",
        "queue": "default",
        "paused": True,
        "limit": 2,
        "version": 2,
    }
    rebuilt = engine.partitions.pop(0)

    async def rebuild() -> PartitionState:
        return rebuilt

    engine._rebuilds[0] = asyncio.create_task(rebuild())
    await engine.partition(0)
    await engine.tick()
    again = [decode_dict(v) for t, _, v in producer.sent if t == topic]
    assert len(again) == 3 and again[-1] == records[-1]


async def test_nothing_is_dispatched_before_the_queue_settings_are_read() -> None:
    directory = QueueDirectory(SETTINGS)
    directory.caught_up = False  # as while following the topic from its start
    engine, producer = _engine(directory)
    await _submit(engine, 1)
    assert _dispatched(producer) == []
    directory.observe(
        {"tenant": "acme", "queue": "default", "paused": True, "limit": None, "version": 1}
    )
    directory.caught_up = True
    await engine.tick()
    assert _dispatched(producer) == []  # paused, as the topic said
    directory.observe(
        {"tenant": "acme", "queue": "default", "paused": False, "limit": None, "version": 2}
    )
    await engine.tick()
    assert _dispatched(producer) == ["acme-t1"]


def test_the_directory_keeps_the_newest_version_whatever_the_order() -> None:
    directory = QueueDirectory(SETTINGS)
    newer = {"tenant": "a", "queue": "q", "paused": False, "limit": 3, "version": 5}
    older = {"tenant": "a", "queue": "q", "paused": True, "limit": None, "version": 4}
    assert directory.observe(newer)
    assert not directory.observe(older) and not directory.observe(newer)
    assert directory.get("a", "q") == q.QueueSettings("a", "q", False, 3, 5)
    assert not directory.observe({"tenant": "a", "queue": "q", "paused": "yes", "version": 9})
