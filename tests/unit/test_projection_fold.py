"""The pure core of the task projection: stored form round trip and batch folding."""

from __future__ import annotations

from dataclasses import replace
from itertools import pairwise
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from projections.counters import add, counter_delta, counts_of
from projections.fold import fold_batch, fold_extras, merge, state_from_dict
from projections.queue_stats import StatKey, StatRow, fold_stats
from projections.synthetic import interleave, stream, task_lives
from taskstream.domain import events as e
from taskstream.domain.envelope import Envelope
from taskstream.domain.machine import fold
from taskstream.domain.state import Status, TaskState

Stored = dict[str, tuple[Any, Any]]


def stored_form(state: TaskState) -> tuple[Any, Any]:
    """What the `tasks` row keeps of a state, through JSON as in the jsonb columns."""
    return orjson.loads(orjson.dumps(state.as_dict())), orjson.loads(
        orjson.dumps(fold_extras(state))
    )


def reload(states: dict[str, TaskState]) -> dict[str, TaskState]:
    """The states as the next batch would load them from Postgres."""
    return {tid: state_from_dict(*stored_form(s)) for tid, s in states.items()}


def apply(table: dict[str, TaskState], batch: list[Envelope]) -> dict[str, TaskState]:
    """One batch applied the way the Postgres apply does: load, fold, guarded upsert."""
    loaded = reload(table)
    return merge(table, fold_batch(loaded, batch).changed)


def view(table: dict[str, TaskState]) -> Stored:
    return {tid: stored_form(s) for tid, s in table.items()}


def expected(events: list[Envelope]) -> Stored:
    """Each task folded alone from its own events, the reference result."""
    per_task: dict[str, list[Envelope]] = {}
    for ev in events:
        if ev.type != e.COMMAND_REJECTED:
            per_task.setdefault(ev.task_id, []).append(ev)
    out: Stored = {}
    for tid, evs in per_task.items():
        state = fold(evs)
        assert state is not None
        out[tid] = stored_form(state)
    return out


def test_state_round_trips_through_the_stored_form() -> None:
    states = fold_batch({}, stream(300, seed=3)).changed
    partial = fold_batch({}, stream(300, seed=4)[:900]).changed
    every = [*states.values(), *partial.values()]
    assert {s.status for s in every} == set(Status)
    assert any(s.dispatch is not None for s in every)
    for state in every:
        assert state_from_dict(*stored_form(state)) == replace(state, seen_commands=frozenset())


def test_state_from_dict_without_extras_is_the_api_view() -> None:
    state = next(iter(fold_batch({}, stream(5, seed=1)).changed.values()))
    assert state_from_dict(state.as_dict()).as_dict() == state.as_dict()


def test_a_batch_folds_to_the_per_task_fold() -> None:
    events = stream(200, seed=7, order="random")
    result = fold_batch({}, events)
    assert not result.errors
    assert view(result.changed) == expected(events)


def test_rejections_are_skipped_and_duplicates_counted() -> None:
    events = stream(50, seed=2)
    rejections = [ev for ev in events if ev.type == e.COMMAND_REJECTED]
    assert rejections
    once = fold_batch({}, events)
    again = fold_batch(once.changed, events)
    assert again.changed == {}
    assert again.duplicates == len(events) - len(rejections)
    assert not again.errors


def test_a_version_gap_is_reported_and_stalls_only_its_task() -> None:
    (a, b) = task_lives(2, seed=5)
    assert len(a) >= 4
    gap = a[2]
    events = [ev for ev in interleave([a, b]) if ev is not gap]
    result = fold_batch({}, events)
    assert result.changed[a[0].task_id].version == gap.version - 1
    assert view({b[0].task_id: result.changed[b[0].task_id]}) == expected(b)
    bad = {err.version for err in result.errors}
    later = {ev.version for ev in a[3:] if ev.type != e.COMMAND_REJECTED}
    assert bad == later
    assert all(err.task_id == a[0].task_id for err in result.errors)
    assert all(err.stored_version == gap.version - 1 for err in result.errors)


def test_an_event_for_an_unknown_task_is_an_error_not_a_crash() -> None:
    (life,) = task_lives(1, seed=9)
    result = fold_batch({}, life[1:])
    assert result.changed == {}
    assert result.errors and result.errors[0].stored_version is None


def test_merge_keeps_the_newer_version() -> None:
    states = fold_batch({}, stream(3, seed=8)).changed
    tid, newest = next(iter(states.items()))
    older = replace(newest, version=1)
    assert merge({tid: newest}, {tid: older})[tid] is newest
    assert merge({tid: older}, {tid: newest})[tid] is newest


@pytest.mark.parametrize("order", ["time", "random"])
def test_batches_of_any_size_reach_the_same_states(order: str) -> None:
    events = stream(60, seed=11, order=order)
    for size in (1, 7, 100, len(events)):
        table: dict[str, TaskState] = {}
        for i in range(0, len(events), size):
            table = apply(table, events[i : i + size])
        assert view(table) == expected(events)


# Property tests: a stream drawn from real task lives, cut into batches anywhere, with
# replayed (duplicated) records and lost ones.

streams = st.builds(
    lambda n, seed: stream(n, seed=seed, order="random"),
    st.integers(1, 6),
    st.integers(0, 10_000),
)


def cut(events: list[Envelope], points: list[int]) -> list[list[Envelope]]:
    edges = sorted({0, len(events), *(p % (len(events) + 1) for p in points)})
    return [events[a:b] for a, b in pairwise(edges)]


@settings(max_examples=75, deadline=None)
@given(streams, st.lists(st.integers(0, 10_000), max_size=8))
def test_applying_a_batch_twice_equals_applying_it_once(
    events: list[Envelope], points: list[int]
) -> None:
    once: dict[str, TaskState] = {}
    twice: dict[str, TaskState] = {}
    for batch in cut(events, points):
        once = apply(once, batch)
        twice = apply(apply(twice, batch), batch)
    assert view(twice) == view(once) == expected(events)


@settings(max_examples=75, deadline=None)
@given(
    streams,
    st.lists(st.integers(0, 10_000), max_size=8),
    st.lists(st.integers(0, 10_000), max_size=8),
)
def test_any_split_gives_the_same_states(
    events: list[Envelope], points_a: list[int], points_b: list[int]
) -> None:
    a: dict[str, TaskState] = {}
    for batch in cut(events, points_a):
        a = apply(a, batch)
    b: dict[str, TaskState] = {}
    for batch in cut(events, points_b):
        b = apply(b, batch)
    assert view(a) == view(b) == expected(events)


@settings(max_examples=75, deadline=None)
@given(streams, st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 10_000)), max_size=6))
def test_replayed_records_change_nothing(
    events: list[Envelope], replays: list[tuple[int, int]]
) -> None:
    replayed = list(events)
    for src, extra in replays:
        i = src % len(events)
        at = i + 1 + extra % (len(replayed) - i)
        replayed.insert(at, events[i])  # a record appended again later (a scheduler replay)
    table: dict[str, TaskState] = {}
    for batch in cut(replayed, [r[1] for r in replays]):
        table = apply(table, batch)
    assert view(table) == expected(events)


@settings(max_examples=50, deadline=None)
@given(
    streams,
    st.lists(st.integers(0, 10_000), min_size=1, max_size=3),
    st.lists(st.integers(0, 10_000), max_size=8),
)
def test_lost_records_stall_their_tasks_the_same_way_whatever_the_split(
    events: list[Envelope], lost: list[int], points: list[int]
) -> None:
    drop = {i % len(events) for i in lost}
    kept = [ev for i, ev in enumerate(events) if i not in drop]
    whole = apply({}, kept)
    table: dict[str, TaskState] = {}
    for batch in cut(kept, points):
        table = apply(table, batch)
    assert view(table) == view(whole)


def apply_queues(
    table: dict[str, TaskState],
    counts: dict[tuple[str, str], int],
    stats: dict[StatKey, StatRow],
    batch: list[Envelope],
) -> tuple[dict[str, TaskState], dict[tuple[str, str], int]]:
    """One batch as `apply_batch` applies it, queue models included: the counters' change
    and the statistics come from the same fold as the rows (states loaded from their
    stored form), so they move exactly when a row does."""
    result = fold_batch(reload(table), batch)
    for key, row in fold_stats(result.transitions).items():
        stats.setdefault(key, StatRow()).add(row)
    return merge(table, result.changed), add(counts, counter_delta(result.transitions))


def stats_view(stats: dict[StatKey, StatRow]) -> dict[StatKey, tuple[Any, ...]]:
    return {
        k: (sorted(r.counts.items()), round(r.run_sum, 6), r.run_hist, r.wait_count, r.wait_hist)
        for k, r in stats.items()
    }


@settings(max_examples=75, deadline=None)
@given(streams, st.lists(st.integers(0, 10_000), max_size=8))
def test_queue_counters_and_statistics_count_a_batch_applied_twice_once(
    events: list[Envelope], points: list[int]
) -> None:
    once: tuple[dict[str, TaskState], dict[tuple[str, str], int]] = ({}, {})
    twice: tuple[dict[str, TaskState], dict[tuple[str, str], int]] = ({}, {})
    stats_once: dict[StatKey, StatRow] = {}
    stats_twice: dict[StatKey, StatRow] = {}
    for batch in cut(events, points):
        once = apply_queues(*once, stats_once, batch)
        twice = apply_queues(*twice, stats_twice, batch)
        twice = apply_queues(*twice, stats_twice, batch)
    assert view(twice[0]) == view(once[0]) == expected(events)
    assert twice[1] == once[1] == counts_of(once[0].values())
    whole: dict[StatKey, StatRow] = fold_stats(fold_batch({}, events).transitions)
    assert stats_view(stats_twice) == stats_view(stats_once) == stats_view(whole)
