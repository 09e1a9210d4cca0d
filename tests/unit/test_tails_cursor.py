"""Tail cursors: encode/decode round trips, refusals, advance, merge and replay ranges."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from api.tails import cursor

offsets = st.dictionaries(st.integers(0, 1023), st.integers(0, 2**53), max_size=64)


@given(offsets)
def test_round_trip(value: dict[int, int]) -> None:
    token = cursor.encode("events", value)
    assert cursor.decode("events", token) == value
    assert "=" not in token and "+" not in token and "/" not in token


def test_a_cursor_of_one_stream_is_refused_by_the_other() -> None:
    token = cursor.encode("logs", {0: 3})
    with pytest.raises(cursor.CursorError, match="'logs' stream"):
        cursor.decode("events", token)


@pytest.mark.parametrize(
    "token",
    [
        "",
        "not base64 !",
        base64.urlsafe_b64encode(b"[1, 2]").decode(),
        base64.urlsafe_b64encode(b'{"s": "events", "o": {"x": 1}}').decode(),
        base64.urlsafe_b64encode(b'{"s": "events", "o": {"0": -1}}').decode(),
        base64.urlsafe_b64encode(b'{"s": "events", "o": {"0": 1.5}}').decode(),
        base64.urlsafe_b64encode(b'{"s": "events", "o": {"0": true}}').decode(),
        "a" * (cursor.MAX_CURSOR_CHARS + 1),
    ],
)
def test_malformed_cursors_are_refused(token: str) -> None:
    with pytest.raises(cursor.CursorError):
        cursor.decode("events", token)


def test_advance_moves_one_partition_forward_only() -> None:
    assert cursor.advance({0: 5, 1: 2}, 1, 7) == {0: 5, 1: 8}
    assert cursor.advance({0: 5}, 0, 3) == {0: 5}
    assert cursor.advance({}, 2, 0) == {2: 1}


@given(offsets, offsets)
def test_merge_takes_the_later_offset_and_is_commutative(
    a: dict[int, int], b: dict[int, int]
) -> None:
    merged = cursor.merge(a, b)
    assert merged == cursor.merge(b, a)
    assert set(merged) == set(a) | set(b)
    for p, o in merged.items():
        assert o == max(a.get(p, 0), b.get(p, 0))


def test_missing_ranges_start_unknown_partitions_at_zero() -> None:
    assert cursor.missing({0: 4, 1: 9}, {0: 10, 1: 9, 2: 3}) == {0: (4, 10), 2: (0, 3)}
    assert cursor.missing({0: 12}, {0: 10}) == {}


def test_position_names_partition_and_offset() -> None:
    assert cursor.position(3, 42) == "3:42"
