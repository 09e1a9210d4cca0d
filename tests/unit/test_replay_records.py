"""The replay's COPY rows for tasks new to the model say what the projector's upserts say."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from projections.attempts import attempt_changes
from projections.fold import fold_batch
from projections.postgres import _task_rows
from projections.replay.apply import ATTEMPT_COLUMNS, _json, attempt_records, state_json
from projections.synthetic import stream
from taskstream.domain.state import Attempt, Status, TaskState


def _as_upserted(row: tuple[object, ...]) -> dict[str, object]:
    # `attempt_changes` rows carry times as ISO 8601 text, which Postgres parses.
    out = dict(zip(ATTEMPT_COLUMNS, row, strict=True))
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in out.items()}


@settings(max_examples=25, deadline=None)
@given(st.integers(min_value=1, max_value=60), st.integers(min_value=0, max_value=10_000))
def test_new_tasks_attempt_rows_are_what_the_upsert_would_write(tasks: int, seed: int) -> None:
    states = list(fold_batch({}, stream(tasks, seed=seed)).changed.values())
    upserted = attempt_changes({}, states)
    assert upserted.prune == []
    by_key = {(r["task_id"], r["number"]): r for r in upserted.rows}
    copied = [_as_upserted(r) for r in attempt_records(states)]
    assert len(copied) == len(by_key) == sum(len(s.attempts) for s in states)
    for row in copied:
        assert row == by_key[(row["task_id"], row["number"])]
    assert any(s.attempts for s in states) or tasks < 5


OFFSETS = st.sampled_from(
    [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-3, seconds=15))]
)
TIMES = st.datetimes(
    min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1), timezones=OFFSETS
)


@settings(max_examples=60, deadline=None)
@given(
    created=TIMES,
    run_at=st.none() | TIMES,
    finished=st.none() | TIMES,
    payload=st.none() | st.integers(min_value=-(2**70), max_value=2**70),
)
def test_a_state_row_holds_the_text_the_projector_would_store(
    created: datetime, run_at: datetime | None, finished: datetime | None, payload: int | None
) -> None:
    # Times stay datetimes for orjson only in UTC (an offset with seconds is written by
    # isoformat alone); an integer beyond 64 bits takes the isoformat path whole.
    state = TaskState(
        id="t1", tenant="acme", queue="q", type="demo.echo", payload={"n": payload},
        priority=5, max_attempts=3, timeout_seconds=30.0, labels={"k": "v"},
        created_at=created, updated_at=created, status=Status.RUNNING, version=3,
        run_at=run_at, attempts=(Attempt(1, "w", created, finished_at=finished),),
    )  # fmt: skip
    assert state_json(state) == _json(state.as_dict())
    # The live projector's rows carry the same text values.
    (row,) = orjson.loads(_task_rows([state]))
    assert row["state"] == orjson.loads(_json(state.as_dict()))


def test_every_synthetic_state_row_is_the_projectors_text() -> None:
    states = list(fold_batch({}, stream(300, seed=9)).changed.values())
    assert all(state_json(s) == _json(s.as_dict()) for s in states)
