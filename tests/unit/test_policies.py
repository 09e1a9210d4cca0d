"""Backoff and dispatch-pacing policies."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from taskstream.domain.backoff import compute_backoff
from taskstream.domain.capacity import partition_share, process_budget, ready_key


@given(
    st.integers(1, 200),
    st.floats(0, 100),
    st.floats(1, 10),
    st.floats(0, 10_000),
    st.floats(0, 0.999999),
)
def test_backoff_is_within_bounds(
    attempt: int, base: float, factor: float, cap: float, draw: float
) -> None:
    delay = compute_backoff(attempt, base=base, factor=factor, max_backoff=cap, draw=draw)
    assert 0 <= delay <= cap


@given(st.integers(1, 30), st.floats(0, 0.999999))
def test_backoff_ceiling_grows_exponentially_until_the_cap(attempt: int, draw: float) -> None:
    ceiling = min(300.0, 1.0 * 2.0 ** (attempt - 1))
    delay = compute_backoff(attempt, base=1.0, factor=2.0, max_backoff=300.0, draw=draw)
    assert delay == pytest.approx(ceiling * draw)


def test_backoff_floor_and_argument_checks() -> None:
    assert compute_backoff(1, base=1, factor=2, max_backoff=10, draw=0.0, min_backoff=0.5) == 0.5
    with pytest.raises(ValueError):
        compute_backoff(0, base=1, factor=2, max_backoff=10, draw=0.1)
    with pytest.raises(ValueError):
        compute_backoff(1, base=1, factor=2, max_backoff=10, draw=1.0)


@given(st.integers(0, 10_000), st.integers(1, 256), st.floats(1.0, 4.0))
def test_partition_shares_cover_capacity_and_every_partition_progresses(
    capacity: int, partitions: int, overcommit: float
) -> None:
    share = partition_share(capacity, partitions, overcommit)
    assert share >= 1
    assert share * partitions >= capacity * overcommit - 1e-6
    # never more than one extra slot per partition beyond the overcommitted capacity
    assert share * partitions < capacity * overcommit + partitions + 1e-6 or share == 1


@given(
    st.lists(st.tuples(st.integers(0, 9), st.floats(0, 1e6), st.integers(0, 1_000_000)), min_size=2)
)
def test_ready_order_is_priority_then_age(items: list[tuple[int, float, int]]) -> None:
    ordered = sorted(items, key=lambda i: ready_key(*i))
    for a, b in itertools.pairwise(ordered):
        assert a[0] > b[0] or (a[0] == b[0] and (a[1], a[2]) <= (b[1], b[2]))


@given(st.integers(0, 10_000), st.integers(1, 64), st.floats(1.0, 4.0), st.data())
def test_process_budgets_pool_their_partitions_shares(
    capacity: int, partitions: int, overcommit: float, data: st.DataObject
) -> None:
    cut = data.draw(st.integers(0, partitions))
    a = process_budget(capacity, partitions, overcommit, owned=cut)
    b = process_budget(capacity, partitions, overcommit, owned=partitions - cut)
    assert a + b == partitions * partition_share(capacity, partitions, overcommit)
    assert process_budget(capacity, partitions, overcommit, owned=partitions) >= capacity
    with pytest.raises(ValueError):
        process_budget(capacity, partitions, overcommit, owned=partitions + 1)
