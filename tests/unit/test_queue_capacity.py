"""Concurrency limits over partitions: strict shares and pooled quotas (properties)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from taskstream.domain.capacity import limited_capacity, pooled_quota, strict_share

TOTALS = st.integers(0, 500)
PARTS = st.integers(1, 64)


@given(TOTALS, PARTS, st.integers(0, 10_000))
def test_strict_shares_sum_to_the_total_and_differ_by_at_most_one(
    total: int, partitions: int, epoch: int
) -> None:
    shares = [strict_share(total, partitions, p, epoch) for p in range(partitions)]
    assert sum(shares) == total
    assert max(shares) - min(shares) <= 1


@given(st.integers(1, 500), PARTS, st.integers(0, 10_000))
def test_every_partition_gets_a_slot_within_one_rotation(
    total: int, partitions: int, start: int
) -> None:
    for p in range(partitions):
        assert any(strict_share(total, partitions, p, start + k) for k in range(partitions))


@given(TOTALS, PARTS, st.integers(0, 10_000), st.data())
def test_processes_owning_disjoint_partitions_never_exceed_the_total(
    total: int, partitions: int, epoch: int, data: st.DataObject
) -> None:
    owner = data.draw(st.lists(st.integers(0, 3), min_size=partitions, max_size=partitions))
    quotas = [
        pooled_quota(total, partitions, frozenset(p for p, o in enumerate(owner) if o == k), epoch)
        for k in range(4)
    ]
    assert sum(quotas) == total
    assert pooled_quota(total, partitions, frozenset(range(partitions)), epoch) == total


@given(st.integers(0, 1000), st.integers(0, 1000), st.floats(1.0, 4.0))
def test_the_limit_bounds_capacity(limit: int, capacity: int, overcommit: float) -> None:
    slots = limited_capacity(limit, capacity, overcommit)
    assert slots <= limit
    assert slots >= min(limit, capacity)
