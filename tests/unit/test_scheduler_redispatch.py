"""A dispatch that times out is handed to the queue's workers again, with its new id."""

from __future__ import annotations

from taskstream.codec import decode_dict
from tests.unit.test_scheduler_control import SETTINGS, FakeProducer, _engine, _send


def _dispatches(producer: FakeProducer) -> list[dict[str, object]]:
    topic = SETTINGS.dispatch_topic("default")
    return [decode_dict(v) for t, _, v in producer.sent if t == topic]


async def test_dispatch_timeout_sends_a_new_dispatch_record_with_the_new_id() -> None:
    engine, producer = _engine()
    await _send(engine, "task.submit", {"type": "x"}, 1)  # dispatched at once: capacity 4
    (first,) = _dispatches(producer)
    start = engine.clock()
    engine.clock = lambda: start + SETTINGS.dispatch_timeout_seconds + 0.1
    await engine.tick()
    state = engine.partitions[0].tasks["t1"]
    assert state.dispatch is not None and state.dispatch.dispatch_id != first["dispatch_id"]
    again = _dispatches(producer)[1:]
    # Exactly one new record, and it carries the id a start must now name.
    assert [(d["dispatch_id"], d["attempt"]) for d in again] == [(state.dispatch.dispatch_id, 1)]
    begun = {"attempt": 1, "dispatch_id": state.dispatch.dispatch_id, "worker": "w-1"}
    await _send(engine, "attempt.start", begun, 2)
    assert engine.partitions[0].tasks["t1"].status.value == "running"
