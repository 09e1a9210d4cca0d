"""An attempt's start time is the worker's own, clamped to [dispatch time, decision time]."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from taskstream.domain.machine import start_time
from tests.unit.scenario import T0, Scenario


def _started_with(reported: datetime | None) -> datetime:
    s = Scenario()
    s.submit()
    s.dispatch()  # dispatched at T0
    s.advance(0.5)  # the scheduler decides the start at T0 + 0.5 s
    assert s.state is not None and s.state.dispatch is not None
    d = s.state.dispatch
    payload = {"attempt": d.attempt, "dispatch_id": d.dispatch_id, "worker": "w1"}
    if reported is not None:
        payload["started_at"] = reported.isoformat()
    (event,) = s.when("attempt.start", payload)
    assert event.type == "attempt.started"
    assert s.state.attempts[-1].started_at.isoformat() == event.payload["started_at"]
    return datetime.fromisoformat(event.payload["started_at"])


def test_the_workers_start_time_is_recorded() -> None:
    assert _started_with(T0 + timedelta(milliseconds=40)) == T0 + timedelta(milliseconds=40)


def test_a_start_before_the_dispatch_is_clamped_to_the_dispatch() -> None:
    assert _started_with(T0 - timedelta(hours=1)) == T0


def test_a_start_after_the_decision_is_clamped_to_the_decision() -> None:
    assert _started_with(T0 + timedelta(hours=1)) == T0 + timedelta(seconds=0.5)


def test_without_a_reported_time_the_decision_time_is_used() -> None:
    assert _started_with(None) == T0 + timedelta(seconds=0.5)


@given(st.floats(-1e6, 1e6), st.floats(0, 1e4))
def test_start_time_always_lies_between_dispatch_and_decision(offset: float, gap: float) -> None:
    dispatched = datetime(2026, 1, 1, tzinfo=UTC)
    now = dispatched + timedelta(seconds=gap)
    got = start_time(dispatched + timedelta(seconds=offset), dispatched, now)
    assert dispatched <= got <= now
