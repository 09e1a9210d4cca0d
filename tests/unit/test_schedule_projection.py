"""The schedules projection's pure part: split, fold idempotent by version, row round trip."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from projections.aggregate_fold import split_aggregates
from projections.schedules import fold_schedules, state_from_dict
from taskstream.domain import schedule_model as s
from taskstream.domain.envelope import Envelope
from taskstream.domain.schedule import decide, evolve, fire

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _log() -> list[Envelope]:
    create = Envelope(
        event_id="c",
        type=s.CREATE_SCHEDULE,
        task_id="sch_p",
        occurred_at=T0,
        payload={"cron": "* * * * * *", "template": {"type": "echo"}},
    )
    events = decide(None, create, T0)
    state = evolve(None, events[0])
    for i in range(1, 4):
        assert state is not None
        fired = fire(state, T0 + timedelta(seconds=i), 0.5)
        state = evolve(state, fired[0])
        events += fired
    return events


def test_split_routes_by_id_prefix() -> None:
    task = Envelope(event_id="x", type="task.ready", task_id="t1", occurred_at=T0, version=2)
    tasks, schedules, queues = split_aggregates([task, *_log()])
    assert tasks == [task] and len(schedules) == 4 and queues == []


def test_fold_is_idempotent_and_resumes_from_the_stored_row() -> None:
    log = _log()
    once = fold_schedules({}, log)
    twice = fold_schedules(once, log)
    assert twice == {}  # every event is a duplicate of the stored version
    stored = {k: state_from_dict(v.as_dict()) for k, v in fold_schedules({}, log[:2]).items()}
    resumed = fold_schedules(stored, log)
    assert resumed["sch_p"].as_dict() == once["sch_p"].as_dict()
    assert once["sch_p"].fired_count == 3
