"""Refused batches: the records at fault are found and set aside, the rest is applied."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg
import pytest
from hypothesis import given
from hypothesis import strategies as st

from projections.refusals import TooManyRefused, apply_isolating, refused


@dataclass(frozen=True)
class Item:
    partition: int
    offset: int


class Model:
    """Stands in for Postgres: refuses any batch holding a bad record; else keeps it."""

    def __init__(self, bad: set[Item]) -> None:
        self.bad = bad
        self.applied: list[Item] = []
        self.checkpoints: dict[int, int] = {}
        self.calls = 0

    async def apply(self, items: list[Item], checkpoints: dict[int, int]) -> int:
        self.calls += 1
        if any(i in self.bad for i in items):
            raise asyncpg.exceptions.NumericValueOutOfRangeError("integer out of range")
        self.applied += items
        for p, o in checkpoints.items():
            assert o >= self.checkpoints.get(p, -1), "a checkpoint moved back"
            self.checkpoints[p] = o
        return len(items)


def batch(n: int, partitions: int) -> list[Item]:
    return [Item(i % partitions, i // partitions) for i in range(n)]


def ends(items: list[Item]) -> dict[int, int]:
    out: dict[int, int] = {}
    for i in items:
        out[i.partition] = i.offset
    return out


@given(st.integers(1, 300), st.integers(1, 4), st.data())
async def test_refused_records_are_set_aside_and_the_rest_applied(
    n: int, partitions: int, data: st.DataObject
) -> None:
    items = batch(n, partitions)
    bad = set(data.draw(st.lists(st.sampled_from(items), max_size=5)))
    model, aside = Model(bad), []

    async def on_refused(item: Item, exc: BaseException) -> None:
        assert refused(exc)
        aside.append(item)

    parts = await apply_isolating(
        model.apply, items, ends(items), refused_max=10, on_refused=on_refused
    )
    assert sorted(aside, key=items.index) == sorted(bad, key=items.index)
    assert model.applied == [i for i in items if i not in bad]  # log order kept
    assert model.checkpoints == ends(items)
    assert sum(r for _, r in parts) == n - len(bad)
    if not bad:
        assert model.calls == 1


async def test_too_many_refused_records_mean_the_fault_is_elsewhere() -> None:
    items = batch(50, 2)
    model = Model(set(items[:4]))

    async def on_refused(item: Item, exc: BaseException) -> None:
        pass

    with pytest.raises(TooManyRefused):
        await apply_isolating(model.apply, items, ends(items), refused_max=3, on_refused=on_refused)


async def test_failures_that_pass_are_not_split() -> None:
    calls = 0

    async def apply(items: list[Item], checkpoints: dict[int, int]) -> None:
        nonlocal calls
        calls += 1
        raise asyncpg.exceptions.DeadlockDetectedError("deadlock detected")

    async def on_refused(item: Item, exc: BaseException) -> None:
        raise AssertionError("nothing is refused")

    with pytest.raises(asyncpg.exceptions.DeadlockDetectedError):
        await apply_isolating(apply, batch(10, 1), {0: 9}, refused_max=3, on_refused=on_refused)
    assert calls == 1


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (asyncpg.exceptions.NumericValueOutOfRangeError("x"), True),
        (asyncpg.exceptions.ProgramLimitExceededError("x"), True),
        (asyncpg.exceptions._base.DataError("invalid input for query argument"), True),
        (asyncpg.exceptions.SerializationError("x"), False),
        (asyncpg.exceptions.AdminShutdownError("x"), False),
        (asyncpg.exceptions.TooManyConnectionsError("x"), False),
        (asyncpg.exceptions.LockNotAvailableError("x"), False),
        (OverflowError("value out of int32 range"), True),
        (ConnectionResetError(), False),
        (TimeoutError(), False),
    ],
)
def test_which_failures_are_refusals(exc: BaseException, expected: bool) -> None:
    assert refused(exc) is expected
