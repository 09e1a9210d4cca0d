"""Queue counters, the pure part: the status mapping and a batch's net change."""

from __future__ import annotations

from itertools import pairwise
from typing import Any, cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from projections.counter_writer import CounterWriter
from projections.counters import (
    COUNTED_STATUSES,
    COUNTERS,
    CounterDelta,
    add,
    counter_delta,
    counter_of,
    counts_of,
    field_name,
    parse_field,
)
from projections.fold import fold_batch, merge
from projections.synthetic import stream
from taskstream.domain.envelope import Envelope
from taskstream.domain.state import Status, TaskState
from taskstream.settings import Settings


def test_each_counter_is_one_status_and_terminal_successes_are_not_counted() -> None:
    assert {s: counter_of(s) for s in Status} == {
        Status.PENDING: "pending",
        Status.SCHEDULED: "scheduled",
        Status.RUNNING: "running",
        Status.DEAD: "dead",
        Status.SUCCEEDED: None,
        Status.CANCELLED: None,
    }
    assert COUNTED_STATUSES == COUNTERS


@given(
    st.from_regex(r"[A-Za-z0-9_.-]{1,64}", fullmatch=True),
    st.integers(0, 9),
    st.sampled_from(COUNTERS),
)
def test_field_names_round_trip(queue: str, priority: int, counter: str) -> None:
    assert parse_field(field_name(queue, priority, counter)) == (queue, priority, counter)


def test_a_field_naming_no_counter_is_refused() -> None:
    with pytest.raises(ValueError):
        parse_field("emails|5|succeeded")


def test_by_tenant_groups_and_drops_zeros() -> None:
    delta = CounterDelta({("a", "q|1|pending"): 2, ("a", "q|1|dead"): 0, ("b", "q|1|dead"): -1})
    assert delta.by_tenant() == {"a": {"q|1|pending": 2}, "b": {"q|1|dead": -1}}


def cut(events: list[Envelope], points: list[int]) -> list[list[Envelope]]:
    edges = sorted({0, len(events), *(p % (len(events) + 1) for p in points)})
    return [events[a:b] for a, b in pairwise(edges)]


streams = st.builds(
    lambda n, seed: stream(n, seed=seed, order="random", tenants=("a", "b")),
    st.integers(1, 8),
    st.integers(0, 10_000),
)


@settings(max_examples=60, deadline=None)
@given(streams, st.lists(st.integers(0, 10_000), max_size=8))
def test_summed_batch_changes_equal_the_counts_of_the_final_states(
    events: list[Envelope], points: list[int]
) -> None:
    table: dict[str, TaskState] = {}
    counts: dict[tuple[str, str], int] = {}
    for batch in cut(events, points):
        result = fold_batch(table, batch)
        counts = add(counts, counter_delta(result.transitions))
        table = merge(table, result.changed)
        # Re-applying the batch moves no task, so it changes no counter.
        assert counter_delta(fold_batch(table, batch).transitions) == {}
    assert counts == counts_of(table.values())
    assert all(n > 0 for n in counts.values())


def test_a_life_moves_through_the_counters_and_ends_uncounted_or_dead() -> None:
    events = stream(40, seed=5)
    result = fold_batch({}, events)
    final = counts_of(result.changed.values())
    dead = sum(1 for s in result.changed.values() if s.status is Status.DEAD)
    assert sum(n for (_, f), n in final.items() if f.endswith("|dead")) == dead
    assert counter_delta(result.transitions) == final


async def test_the_writer_drops_changes_beyond_its_bound_and_asks_for_a_rebuild() -> None:
    writer = CounterWriter(Settings(counters_queue_max=2), cast(Any, None), cast(Any, None))
    assert writer.needs_rebuild  # nothing is trusted before the first rebuild
    writer._dirty = False  # as after a successful rebuild
    writer.submit(CounterDelta({}, {}))  # a batch of nothing but dead letters: no change
    writer.submit(CounterDelta({("t", "q|1|pending"): 1}, {0: (-1, 0)}))
    writer.submit(CounterDelta({("t", "q|1|pending"): 1}, {0: (0, 1)}))
    assert writer.waiting == 2 and not writer.needs_rebuild
    writer.submit(CounterDelta({("t", "q|1|pending"): 1}, {0: (1, 2)}))
    # Postgres has every dropped change: the rebuild will include them.
    assert writer.waiting == 0 and writer.needs_rebuild
