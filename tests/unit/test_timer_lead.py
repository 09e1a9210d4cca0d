"""Timers that fire ahead: a delayed task is dispatched early and starts at its time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from streams.scheduler.partition import PartitionState, Timing
from streams.scheduler.records import dispatch_record
from streams.worker.dispatch import hold_seconds, parse_dispatch
from taskstream.domain import commands as c
from taskstream.domain import events as e
from taskstream.domain.envelope import Envelope
from taskstream.domain.evolve import fold
from taskstream.domain.machine import decide
from taskstream.domain.state import Status, TaskState
from taskstream.settings import Settings

T0 = datetime(2026, 1, 1, tzinfo=UTC)
RUN_AT = T0 + timedelta(seconds=30)


def command(type_: str, payload: dict[str, object], at: datetime, n: int = 0) -> Envelope:
    return Envelope(
        event_id=f"cmd-{type_}-{n}", type=type_, task_id="t1", occurred_at=at, payload=payload
    )


def scheduled() -> TaskState:
    submit = command(c.SUBMIT_TASK, {"type": "demo.echo", "run_at": RUN_AT.isoformat()}, T0)
    state = fold(decide(None, submit, T0))
    assert state is not None and state.status is Status.SCHEDULED
    return state


def fire(state: TaskState, at: datetime, lead_ms: int) -> list[Envelope]:
    cmd = command(c.FIRE_TIMER, {"kind": "run_at", "lead_ms": lead_ms}, at, 1)
    return decide(state, cmd, at)


def test_a_timer_fires_within_its_lead_and_says_when_to_start() -> None:
    state = scheduled()
    assert fire(state, RUN_AT - timedelta(milliseconds=101), 100) == []
    [ready] = fire(state, RUN_AT - timedelta(milliseconds=60), 100)
    assert ready.type == e.TASK_READY
    assert ready.payload == {"not_before": RUN_AT.isoformat()}
    after = fold([ready], state)
    assert after is not None
    assert after.status is Status.PENDING and after.not_before == RUN_AT


def test_without_a_lead_a_timer_fires_at_its_time_with_nothing_to_hold() -> None:
    state = scheduled()
    assert fire(state, RUN_AT - timedelta(microseconds=1), 0) == []
    [ready] = fire(state, RUN_AT, 0)
    assert ready.payload == {}
    [late] = fire(state, RUN_AT + timedelta(seconds=1), 100)
    assert late.payload == {}  # already due: nothing to hold
    after = fold([late], state)
    assert after is not None and after.not_before is None


def test_the_dispatch_carries_the_time_and_the_worker_holds_the_start_until_it() -> None:
    state = scheduled()
    [ready] = fire(state, RUN_AT - timedelta(milliseconds=80), 100)
    pending = fold([ready], state)
    assert pending is not None
    dispatch_cmd = command(c.DISPATCH_TASK, {"dispatch_id": "d1"}, ready.occurred_at, 2)
    [dispatched] = decide(pending, dispatch_cmd, ready.occurred_at)
    after = fold([dispatched], pending)
    assert after is not None
    _, _, value, _ = dispatch_record(Settings(), after, dispatched)
    d = parse_dispatch(value)
    assert d.not_before == RUN_AT
    assert hold_seconds(d, RUN_AT - timedelta(milliseconds=30)) == 0.03
    assert hold_seconds(d, RUN_AT + timedelta(milliseconds=5)) == 0.0

    start = command(
        c.START_ATTEMPT,
        {"attempt": 1, "dispatch_id": "d1", "worker": "w1", "started_at": RUN_AT.isoformat()},
        RUN_AT,
        3,
    )
    [started] = decide(after, start, RUN_AT + timedelta(milliseconds=2))
    running = fold([started], after)
    assert running is not None and running.not_before is None


def test_the_scheduler_places_run_at_timers_ahead_by_the_lead() -> None:
    state = scheduled()
    ps = PartitionState(0, Timing(dispatch_timeout=30, lease=10, timer_lead=0.1))
    submitted = decide(
        None,
        command(c.SUBMIT_TASK, {"type": "demo.echo", "run_at": RUN_AT.isoformat()}, T0),
        T0,
    )
    for event in submitted:
        ps.apply(event, T0.timestamp())
    assert ps.next_due() == RUN_AT.timestamp() - 0.1
    assert state.run_at == RUN_AT


async def test_a_run_at_timer_popped_before_decide_agrees_is_armed_again() -> None:
    from tests.unit.test_scheduler_control import _engine, _send

    engine, _ = _engine()
    run_at = datetime.fromtimestamp(engine.clock(), UTC) + timedelta(seconds=10)
    await _send(engine, "task.submit", {"type": "x", "run_at": run_at.isoformat()}, 1)
    st = engine.partitions[0]
    due = st.next_due()
    assert due is not None
    # The clock reads a microsecond short of what `decide` needs (float rounding).
    engine.clock = lambda: due - 1e-6
    st.timers[0] = (due - 1e-6, *st.timers[0][1:])  # still the heap's top
    await engine.tick()
    assert st.tasks["t1"].status is Status.SCHEDULED
    assert st.next_due() is not None  # armed again, not lost
    engine.clock = lambda: due + 0.01
    await engine.tick()
    assert st.tasks["t1"].status is not Status.SCHEDULED
