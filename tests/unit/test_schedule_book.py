"""Schedules in the scheduler's partition state: routing, firing, rebuild."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from streams.scheduler.partition import PartitionState, Timing
from taskstream.domain import commands as c
from taskstream.domain import schedule_model as s
from taskstream.domain.envelope import Envelope

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _create(st: PartitionState) -> list[Envelope]:
    command = Envelope(
        event_id="create",
        type=s.CREATE_SCHEDULE,
        task_id="sch_a",
        occurred_at=T0,
        payload={"cron": "* * * * * *", "template": {"type": "echo"}},
    )
    events = st.schedules.command(command, T0)
    for event in events:
        st.apply(event, T0.timestamp())
    return events


def test_schedule_events_fold_beside_tasks_and_fire_once_per_due_time() -> None:
    st = PartitionState(0, Timing(5, 10))
    log = _create(st)
    assert st.tasks == {} and "sch_a" in st.schedules.states
    assert st.next_due() == (T0 + timedelta(seconds=1)).timestamp()
    st.schedules.resubmit_pending = False
    now = T0 + timedelta(seconds=3, milliseconds=500)
    events, submits = st.schedules.fire_due(now.timestamp(), now, lambda: 0.5)
    log += events
    # Late by 2.5 s with the default `skip`: one skip, no fire.
    assert [e.type for e in events] == [s.SCHEDULE_SKIPPED] and submits == []
    now = T0 + timedelta(seconds=4, milliseconds=10)
    events, submits = st.schedules.fire_due(now.timestamp(), now, lambda: 0.5)
    log += events
    assert [e.type for e in events] == [s.SCHEDULE_FIRED]
    assert [cmd.type for cmd in submits] == [c.SUBMIT_TASK]
    assert st.schedules.fire_due(now.timestamp(), now, lambda: 0.5) == ([], [])

    # A rebuild from the same events resends the last fire's submit (same command id)
    # and fires nothing already fired.
    rebuilt = PartitionState(0, Timing(5, 10))
    for event in log:
        rebuilt.apply(event, now.timestamp())
    events, again = rebuilt.schedules.fire_due(now.timestamp(), now, lambda: 0.5)
    assert events == []
    assert [cmd.event_id for cmd in again] == [cmd.event_id for cmd in submits]
