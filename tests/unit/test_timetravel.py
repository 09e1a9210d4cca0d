"""Time travel: parsing `at`, and folding a task's events up to a version or a moment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec
import pytest

from projections.synthetic import task_lives
from projections.timetravel import as_of, envelope_of, parse_at, state_at, until
from taskstream.domain.machine import fold


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", 0),
        ("7", 7),
        (" 12 ", 12),
        ("2026-01-31T09:00:00Z", datetime(2026, 1, 31, 9, tzinfo=UTC)),
        ("2026-01-31T10:00:00+01:00", datetime(2026, 1, 31, 9, tzinfo=UTC)),
        # A `+` that an unencoded query string turned into a space.
        ("2026-01-31T10:00:00 01:00", datetime(2026, 1, 31, 9, tzinfo=UTC)),
        ("2026-01-31T09:00:00.250000Z", datetime(2026, 1, 31, 9, 0, 0, 250000, tzinfo=UTC)),
    ],
)
def test_at_is_a_version_or_an_aware_time(text: str, expected: object) -> None:
    assert parse_at(text) == expected


@pytest.mark.parametrize("text", ["", "-1", "1.5", "yesterday", "v3", "٣", "2026-13-01T00:00Z"])
def test_a_bad_at_names_the_accepted_forms(text: str) -> None:
    with pytest.raises(ValueError, match=r"version number .* ISO 8601"):
        parse_at(text)


def test_a_time_without_offset_is_refused() -> None:
    with pytest.raises(ValueError, match="UTC offset"):
        parse_at("2026-01-31T09:00:00")


LIVES = task_lives(40, seed=7)


@pytest.mark.parametrize("life", LIVES, ids=lambda life: f"{life[0].task_id[:8]}-{len(life)}")
def test_state_at_each_version_is_the_fold_of_the_events_up_to_it(life: list) -> None:
    assert state_at(life, 0) is None
    versions = sorted({ev.version for ev in life if ev.version > 0})
    for v in versions:
        expected = fold([ev for ev in life if ev.version <= v])
        got = state_at(life, v)
        assert got == expected
        assert got is not None and got.version == v
    assert state_at(life, versions[-1] + 5) == fold(life)


@pytest.mark.parametrize("life", LIVES[:10], ids=lambda life: life[0].task_id[:8])
def test_state_at_a_moment_is_the_fold_of_what_had_happened(life: list) -> None:
    first = life[0].occurred_at
    assert state_at(life, first - timedelta(microseconds=1)) is None
    for ev in life:
        expected = fold([e for e in life if e.occurred_at <= ev.occurred_at])
        assert state_at(life, ev.occurred_at) == expected


def test_archived_rows_come_back_as_envelopes() -> None:
    life = LIVES[0]
    rows = [{**msgspec.to_builtins(ev), "partition": 1, "offset": i} for i, ev in enumerate(life)]
    assert [envelope_of(r) for r in rows] == life
    assert until(life, 1) == [ev for ev in life if ev.version <= 1]


def test_as_of_adds_the_version_and_its_time() -> None:
    state = fold(LIVES[1])
    assert state is not None
    doc = as_of(state)
    assert doc["as_of"] == {"version": state.version, "at": state.updated_at.isoformat()}
    assert {k: v for k, v in doc.items() if k != "as_of"} == state.as_dict()
