"""The schedule aggregate: decide, fire and evolve, pure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from taskstream.domain import commands as c
from taskstream.domain import events as e
from taskstream.domain import schedule_model as s
from taskstream.domain.envelope import Envelope
from taskstream.domain.schedule import decide, evolve, fire, fire_task_id, submit_for
from taskstream.domain.schedule_model import ScheduleState

T0 = datetime(2026, 1, 1, tzinfo=UTC)
SID = "sch_1"


def cmd(type_: str, payload: dict[str, Any] | None = None, cid: str = "c") -> Envelope:
    return Envelope(event_id=cid, type=type_, task_id=SID, occurred_at=T0, payload=payload or {})


def create(**fields: Any) -> dict[str, Any]:
    return {"cron": "* * * * * *", "template": {"type": "echo"}, **fields}


def fold(events: list[Envelope], state: ScheduleState | None = None) -> ScheduleState | None:
    for event in events:
        state = evolve(state, event)
    return state


def created(**fields: Any) -> tuple[ScheduleState, list[Envelope]]:
    events = decide(None, cmd(s.CREATE_SCHEDULE, create(**fields), "create"), T0)
    state = fold(events)
    assert state is not None
    return state, events


def test_create_records_the_first_due_time() -> None:
    state, events = created()
    assert [ev.type for ev in events] == [s.SCHEDULE_CREATED]
    assert state.next_due_at == T0 + timedelta(seconds=1)
    assert state.template == {
        # Omitted fields stay null: each fire's submit gets the type's defaults then.
        "queue": None,
        "type": "echo",
        "payload": None,
        "priority": None,
        "max_attempts": None,
        "timeout_seconds": None,
        "labels": {},
        "backoff_base_seconds": None,
        "backoff_max_seconds": None,
    }


def test_invalid_create_is_rejected_naming_the_field() -> None:
    (ev,) = decide(None, cmd(s.CREATE_SCHEDULE, create(timezone="Nowhere/City")), T0)
    assert ev.type == e.COMMAND_REJECTED
    assert "timezone" in ev.payload["reason"]
    (ev,) = decide(
        None, cmd(s.CREATE_SCHEDULE, create(template={"type": "x", "run_at": T0.isoformat()})), T0
    )
    assert "run_at" in ev.payload["reason"]


def test_a_fire_records_due_time_and_a_derived_task() -> None:
    state, _ = created()
    now = T0 + timedelta(seconds=1, milliseconds=3)
    (ev,) = fire(state, now, 0.5)
    assert ev.type == s.SCHEDULE_FIRED
    due = T0 + timedelta(seconds=1)
    assert ev.payload["due_at"] == due.isoformat()
    assert ev.payload["task_id"] == fire_task_id(SID, due)
    after = evolve(state, ev)
    assert after is not None and after.next_due_at == due + timedelta(seconds=1)
    submit = submit_for(after, ev)
    assert submit.type == c.SUBMIT_TASK and submit.task_id == ev.payload["task_id"]
    assert c.parse_payload(submit.type, submit.payload)
    assert submit.payload["labels"] == {"schedule_id": SID}


def test_a_replayed_fire_is_a_no_op() -> None:
    state, _ = created()
    now = T0 + timedelta(seconds=1)
    first = fire(state, now, 0.5)
    after = fold(first, state)
    assert after is not None
    assert fire(after, now, 0.5) == []  # the next due time has not come
    # Deciding the same due time again (a crash before the event was written) names
    # the same task and the same submit command.
    again = fire(state, now, 0.9)
    assert again[0].payload["task_id"] == first[0].payload["task_id"]
    assert submit_for(after, again[0]).event_id == submit_for(after, first[0]).event_id


def test_pause_stops_fires_and_resume_follows_misfire_policy() -> None:
    for misfire in ("skip", "fire_once"):
        state, _ = created(misfire=misfire)
        paused = fold(decide(state, cmd(s.PAUSE_SCHEDULE, cid="p"), T0), state)
        assert paused is not None and paused.paused
        later = T0 + timedelta(seconds=30)
        assert fire(paused, later, 0.5) == []
        resumed = fold(decide(paused, cmd(s.RESUME_SCHEDULE, cid="r"), later), paused)
        assert resumed is not None and not resumed.paused
        (ev,) = fire(resumed, later, 0.5)
        next_due = later + timedelta(seconds=1)
        assert ev.payload["next_due_at"] == next_due.isoformat()
        if misfire == "skip":
            assert ev.type == s.SCHEDULE_SKIPPED and ev.payload["missed"] == 30
        else:
            assert ev.type == s.SCHEDULE_FIRED and ev.payload["missed"] == 29
            assert ev.payload["due_at"] == (T0 + timedelta(seconds=1)).isoformat()


def test_fire_all_fires_every_missed_due_time_once_oldest_first() -> None:
    state, _ = created(misfire="fire_all")
    later = T0 + timedelta(seconds=30, milliseconds=400)
    fired = []
    while events := fire(state, later, 0.5):
        (ev,) = events
        assert ev.type == s.SCHEDULE_FIRED and ev.payload["missed"] == 0
        fired.append(datetime.fromisoformat(ev.payload["due_at"]))
        new = fold(events, state)
        assert new is not None
        state = new
    assert fired == [T0 + timedelta(seconds=i) for i in range(1, 31)]
    assert state.next_due_at == T0 + timedelta(seconds=31)


def test_fire_all_after_a_thousand_misses_catches_up_once() -> None:
    state, _ = created(misfire="fire_all")
    later = T0 + timedelta(seconds=5000)
    (ev,) = fire(state, later, 0.5)
    assert ev.type == s.SCHEDULE_FIRED and ev.payload["missed"] == 999
    assert ev.payload["next_due_at"] == (later + timedelta(seconds=1)).isoformat()


def test_delete_is_final_and_duplicates_are_ignored() -> None:
    state, _ = created()
    deleted = fold(decide(state, cmd(s.DELETE_SCHEDULE, cid="d"), T0), state)
    assert deleted is not None and deleted.deleted and not deleted.active
    assert decide(deleted, cmd(s.DELETE_SCHEDULE, cid="d"), T0) == []
    (ev,) = decide(deleted, cmd(s.RESUME_SCHEDULE, cid="r2"), T0)
    assert ev.type == e.COMMAND_REJECTED
    assert fire(deleted, T0 + timedelta(hours=1), 0.5) == []


def test_task_ids_and_task_commands_are_refused() -> None:
    bad = Envelope(
        event_id="x", type=s.CREATE_SCHEDULE, task_id="t1", occurred_at=T0, payload=create()
    )
    (ev,) = decide(None, bad, T0)
    assert ev.type == e.COMMAND_REJECTED
    (ev,) = decide(None, cmd(c.SUBMIT_TASK, {"type": "x"}), T0)
    assert ev.type == e.COMMAND_REJECTED


@settings(max_examples=80, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 4000), st.sampled_from(["tick", "pause", "resume"])),
        max_size=40,
    ),
    st.sampled_from(["skip", "fire_once", "fire_all"]),
    st.floats(0, 10),
)
def test_any_run_fires_each_due_time_at_most_once_and_replays(
    steps: list[tuple[int, str]], misfire: str, jitter: float
) -> None:
    state, log = created(misfire=misfire, jitter_seconds=jitter)
    now = T0
    for i, (ms, action) in enumerate(steps):
        now += timedelta(milliseconds=ms)
        if action == "tick":
            events = fire(state, now, 0.25)
        else:
            type_ = s.PAUSE_SCHEDULE if action == "pause" else s.RESUME_SCHEDULE
            events = decide(state, cmd(type_, cid=f"c{i}"), now)
        new = fold(events, state)
        assert new is not None
        state = new
        log += events
    dues = [
        datetime.fromisoformat(ev.payload["due_at"]) for ev in log if ev.type == s.SCHEDULE_FIRED
    ]
    assert dues == sorted(set(dues))
    assert all(
        d <= datetime.fromisoformat(ev.payload["fired_at"])
        for d, ev in zip(dues, [x for x in log if x.type == s.SCHEDULE_FIRED], strict=True)
    )
    assert fold(log) == state  # replay reproduces the state
