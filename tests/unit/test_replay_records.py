"""The replay's COPY rows for tasks new to the model say what the projector's upserts say."""

from __future__ import annotations

from datetime import datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from projections.attempts import attempt_changes
from projections.fold import fold_batch
from projections.replay.apply import ATTEMPT_COLUMNS, attempt_records
from projections.synthetic import stream


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
