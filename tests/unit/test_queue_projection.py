"""The queue_settings fold: splitting, duplicates, idempotence (applying twice = once)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from projections.aggregate_fold import split_aggregates
from projections.queue_settings import fold_queues
from taskstream.domain import queue_model as q
from taskstream.domain.envelope import Envelope
from taskstream.domain.queue import decide, evolve
from taskstream.domain.queue_model import QueueState
from tests.unit.scenario import T0

ACTIONS = st.lists(
    st.sampled_from(
        [
            (q.PAUSE_QUEUE, {}),
            (q.RESUME_QUEUE, {}),
            (q.SET_QUEUE_LIMIT, {"limit": 2}),
            (q.SET_QUEUE_LIMIT, {"limit": None}),
        ]
    ),
    min_size=1,
    max_size=15,
)


def _events(actions: list[tuple[str, dict[str, Any]]], queue: str = "emails") -> list[Envelope]:
    state: QueueState | None = None
    out: list[Envelope] = []
    for i, (type_, payload) in enumerate(actions):
        cmd = Envelope(
            event_id=f"{queue}-{i}",
            type=type_,
            task_id=q.queue_id("acme", queue),
            occurred_at=T0,
            tenant="acme",
            payload=payload,
        )
        for ev in decide(state, cmd, T0 + timedelta(seconds=i)):
            state = evolve(state, ev)
            out.append(ev)
    return out


@given(ACTIONS, ACTIONS, st.integers(0, 30))
def test_applying_a_batch_twice_equals_once_and_any_split_agrees(
    a: list[tuple[str, dict[str, Any]]], b: list[tuple[str, dict[str, Any]]], cut: int
) -> None:
    events = _events(a) + _events(b, "reports")
    once = fold_queues({}, events)
    twice = fold_queues(once, events)
    assert twice == {}  # every event is a duplicate of what is stored
    head, tail = events[: cut % (len(events) + 1)], events[cut % (len(events) + 1) :]
    first = fold_queues({}, head)
    second = fold_queues(first, tail)
    merged = {**first, **second}
    assert {k: (s.paused, s.limit, s.version) for k, s in merged.items()} == {
        k: (s.paused, s.limit, s.version) for k, s in once.items()
    }


def test_queue_and_schedule_events_are_split_off_in_log_order() -> None:
    events = _events([(q.PAUSE_QUEUE, {}), (q.RESUME_QUEUE, {})])
    task = Envelope(event_id="x", type="task.ready", task_id="t1", occurred_at=T0, version=2)
    other = Envelope(event_id="y", type="task.ready", task_id="t2", occurred_at=T0, version=2)
    fire = Envelope(
        event_id="z", type="schedule.fired", task_id="sch_nightly", occurred_at=T0, version=3
    )
    mixed = [task, events[0], fire, other, events[1]]
    assert split_aggregates(mixed) == ([task, other], [fire], events)
    assert split_aggregates([task, other]) == ([task, other], [], [])
