"""The attempts and log-line pieces of the projection: pure, idempotent, split-independent."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from projections.attempts import AttemptChanges, attempt_changes
from projections.fold import fold_batch, merge
from projections.logs import decode_line
from projections.synthetic import stream
from taskstream.codec import encode_dict
from taskstream.domain.errors import DecodeError
from taskstream.domain.state import TaskState

EVENTS = stream(30, seed=11, order="random")

Table = dict[tuple[str, int], dict[str, Any]]


def write(table: Table, changes: AttemptChanges) -> None:
    """What the upsert and prune statements do to `task_attempts`."""
    for row in changes.rows:
        key = (row["task_id"], row["number"])
        if key not in table or table[key]["version"] < row["version"]:
            table[key] = row
    for p in changes.prune:
        for key in [k for k in table if k[0] == p["task_id"]]:
            if table[key]["version"] < p["version"] and key[1] not in p["keep"]:
                del table[key]


def project(batches: list[list[Any]]) -> tuple[dict[str, TaskState], Table]:
    stored: dict[str, TaskState] = {}
    table: Table = {}
    for batch in batches:
        result = fold_batch(stored, batch)
        write(table, attempt_changes(stored, result.changed.values()))
        stored = merge(stored, result.changed)
    return stored, table


def expected(states: dict[str, TaskState]) -> dict[tuple[str, int], dict[str, Any]]:
    return {(s.id, a.number): a.as_dict() for s in states.values() for a in s.attempts}


def strip(table: Table) -> dict[tuple[str, int], dict[str, Any]]:
    drop = ("task_id", "tenant", "version")
    return {k: {f: v for f, v in row.items() if f not in drop} for k, row in table.items()}


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(1, len(EVENTS) - 1), max_size=8, unique=True))
def test_attempt_rows_match_the_states_whatever_the_batches(cuts: list[int]) -> None:
    bounds = [0, *sorted(cuts), len(EVENTS)]
    batches = [EVENTS[a:b] for a, b in itertools.pairwise(bounds)]
    states, table = project(batches)
    assert strip(table) == expected(states)
    assert any(s.attempts for s in states.values())


def test_reapplying_a_batch_writes_no_attempt() -> None:
    states, _ = project([EVENTS])
    again = fold_batch(states, EVENTS)
    assert not attempt_changes(states, again.changed.values()).rows


def test_only_changed_attempts_are_written() -> None:
    half = len(EVENTS) // 2
    states, _ = project([EVENTS[:half]])
    result = fold_batch(states, EVENTS[half:])
    changes = attempt_changes(states, result.changed.values())
    for row in changes.rows:
        before = states.get(row["task_id"])
        old = [a.as_dict() for a in before.attempts] if before else []
        assert {
            k: v for k, v in row.items() if k not in ("task_id", "tenant", "version")
        } not in old


def test_log_lines_decode_as_the_worker_writes_them() -> None:
    record = {
        "task_id": "t1",
        "tenant": "acme",
        "attempt": 2,
        "seq": 3,
        "at": "2026-01-01T12:00:00+00:00",
        "level": "warning",
        "message": "attempt 2 fails on purpose",
    }
    got = decode_line(encode_dict(record))
    assert (got.task_id, got.tenant, got.attempt, got.seq, got.level) == (
        "t1",
        "acme",
        2,
        3,
        "warning",
    )


@pytest.mark.parametrize("raw", [None, b"{not json", b"[1]", b'{"task_id": "t1"}'])
def test_undecodable_log_records_raise_decode_error(raw: bytes | None) -> None:
    with pytest.raises(DecodeError):
        decode_line(raw)
