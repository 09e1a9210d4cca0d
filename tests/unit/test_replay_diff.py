"""Row diffing of `replay verify`: one merge pass, any chunking gives the same answer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from hypothesis import given
from hypothesis import strategies as st

from projections.replay.diff import IGNORED, Row, compared_columns, diff_rows, diff_streams

COLS = ["id", "n", "v"]


def test_equal_tables_have_no_difference() -> None:
    rows = [("a", "1", "x"), ("b", "2", None)]
    assert list(diff_rows("t", COLS, ["id"], rows, list(rows))) == []


def test_missing_extra_and_changed_rows_are_each_reported() -> None:
    live = [("a", "1", "x"), ("b", "2", "y"), ("d", "4", None)]
    rebuilt = [("b", "2", "z"), ("c", "3", "w"), ("d", "4", None)]
    diffs = list(diff_rows("t", COLS, ["id"], live, rebuilt))
    assert [(d.kind, d.key) for d in diffs] == [
        ("missing", {"id": "a"}),
        ("changed", {"id": "b"}),
        ("extra", {"id": "c"}),
    ]
    assert diffs[1].columns == {"v": ("y", "z")}
    assert "live 'y' != rebuilt 'z'" in diffs[1].describe()
    assert "live model only" in diffs[0].describe()
    assert "rebuild only" in diffs[2].describe()


def test_composite_keys_compare_in_order() -> None:
    cols = ["task", "num", "x"]
    live = [("a", "1", "p"), ("a", "2", "q")]
    rebuilt = [("a", "2", "q"), ("b", "1", "r")]
    diffs = list(diff_rows("t", cols, ["task", "num"], live, rebuilt))
    assert [(d.kind, d.key) for d in diffs] == [
        ("missing", {"task": "a", "num": "1"}),
        ("extra", {"task": "b", "num": "1"}),
    ]


def test_ignored_columns_are_listed_with_a_reason_and_left_out() -> None:
    assert compared_columns("projection_checkpoints", ["projection", "updated_at"]) == [
        "projection"
    ]
    assert compared_columns("task_attempts", ["task_id", "version"]) == ["task_id"]
    assert compared_columns("tasks", ["id", "version", "updated_at"]) == [
        "id",
        "version",
        "updated_at",
    ]
    assert all(why for cols in IGNORED.values() for why in cols.values())


async def _chunked(rows: list[Row], sizes: list[int]) -> AsyncIterator[list[Row]]:
    i = 0
    for size in sizes:
        if i >= len(rows):
            break
        yield rows[i : i + size]
        i += size
        await asyncio.sleep(0)
    if i < len(rows):
        yield rows[i:]


keys = st.sets(st.text(alphabet="abcdé€0", min_size=1, max_size=3), max_size=30)


@given(
    live_keys=keys,
    rebuilt_keys=keys,
    values=st.lists(st.sampled_from(["x", "y", None]), min_size=60, max_size=60),
    sizes_a=st.lists(st.integers(1, 7), max_size=20),
    sizes_b=st.lists(st.integers(1, 7), max_size=20),
)
def test_any_chunking_finds_the_same_differences(
    live_keys: set[str],
    rebuilt_keys: set[str],
    values: list[str | None],
    sizes_a: list[int],
    sizes_b: list[int],
) -> None:
    live = [(k, values[i % 30]) for i, k in enumerate(sorted(live_keys))]
    rebuilt = [(k, values[30 + i % 30]) for i, k in enumerate(sorted(rebuilt_keys))]
    cols = ["id", "v"]
    expected = list(diff_rows("t", cols, ["id"], live, rebuilt))

    async def run() -> list[object]:
        stream = diff_streams(
            "t", cols, ["id"], _chunked(live, sizes_a), _chunked(rebuilt, sizes_b)
        )
        return [d async for d in stream]

    assert asyncio.run(run()) == expected
    missing = {d.key["id"] for d in expected if d.kind == "missing"}
    extra = {d.key["id"] for d in expected if d.kind == "extra"}
    assert missing == live_keys - rebuilt_keys
    assert extra == rebuilt_keys - live_keys
