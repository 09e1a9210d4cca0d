"""`next_fire`: the pure cron helper, including daylight-saving changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from taskstream.domain.cron import CronError, missed, next_fire, validate

BERLIN = "Europe/Berlin"
EXPRESSIONS = [
    "* * * * * *",
    "*/7 * * * * *",
    "*/30 * * * *",
    "30 2 * * *",
    "15,45 1-3 * * *",
    "0 0 * * 0",
    "0 12 1 * *",
]
ZONES = ["UTC", BERLIN, "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata"]
# Around the 2026 DST changes in Europe and the US, and anywhere else.
moments = st.one_of(
    st.datetimes(datetime(2026, 3, 28), datetime(2026, 3, 30), timezones=st.just(UTC)),
    st.datetimes(datetime(2026, 10, 24), datetime(2026, 10, 26), timezones=st.just(UTC)),
    st.datetimes(datetime(2026, 11, 1), datetime(2026, 11, 2), timezones=st.just(UTC)),
    st.datetimes(datetime(2000, 1, 1), datetime(2100, 1, 1), timezones=st.just(UTC)),
)


def test_every_second_with_the_sixth_field() -> None:
    after = datetime(2026, 1, 1, 0, 0, 0, 500_000, tzinfo=UTC)
    assert next_fire("* * * * * *", "UTC", after) == datetime(2026, 1, 1, 0, 0, 1, tzinfo=UTC)
    exact = datetime(2026, 1, 1, 0, 0, 1, tzinfo=UTC)
    assert next_fire("* * * * * *", "UTC", exact) == exact + timedelta(seconds=1)


def test_gap_fires_shifted_forward_once() -> None:
    # 02:30 does not exist in Berlin on 2026-03-29: it fires at 03:30 CEST (01:30 UTC).
    after = datetime(2026, 3, 28, 12, tzinfo=UTC)
    assert next_fire("30 2 * * *", BERLIN, after) == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    # 02:45 (shifted to 03:45) and a real 03:15: the real one comes first.
    assert next_fire("15,45 2,3 * * *", BERLIN, after) == datetime(2026, 3, 29, 1, 15, tzinfo=UTC)


def test_overlap_fires_first_occurrence_only() -> None:
    after = datetime(2026, 10, 24, 12, tzinfo=UTC)
    first = next_fire("30 2 * * *", BERLIN, after)
    assert first == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 02:30 CEST
    assert next_fire("30 2 * * *", BERLIN, first) == datetime(2026, 10, 26, 1, 30, tzinfo=UTC)


@settings(max_examples=300, deadline=None)
@given(moments, st.sampled_from(EXPRESSIONS), st.sampled_from(ZONES))
def test_next_fire_is_strictly_later_and_a_match(after: datetime, expr: str, tz: str) -> None:
    due = next_fire(expr, tz, after)
    assert due > after
    assert due.tzinfo is UTC
    # Nothing matches in between: the fire after any earlier moment is not before it.
    assert next_fire(expr, tz, after + (due - after) / 2) == due


@settings(max_examples=60, deadline=None)
@given(moments, st.sampled_from(EXPRESSIONS[:5]), st.sampled_from(ZONES))
def test_fire_sequence_strictly_increases(after: datetime, expr: str, tz: str) -> None:
    fired = []
    due = after
    for _ in range(40):
        due = next_fire(expr, tz, due)
        fired.append(due)
    assert fired == sorted(set(fired))


def test_missed_counts_up_to_limit() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    assert missed("* * * * * *", "UTC", start, start + timedelta(seconds=5), limit=100) == 6
    assert missed("* * * * * *", "UTC", start, start + timedelta(days=3), limit=100) == 100


@pytest.mark.parametrize(
    ("expr", "tz", "field"),
    [
        ("61 * * * *", "UTC", "cron"),
        ("* * *", "UTC", "cron"),
        ("* * * * * * *", "UTC", "cron"),
        ("0 0 30 2 *", "UTC", "cron"),
        ("H * * * *", "UTC", "cron"),
        ("* * * * *", "Mars/Olympus", "timezone"),
    ],
)
def test_validation_names_the_field(expr: str, tz: str, field: str) -> None:
    with pytest.raises(CronError) as info:
        validate(expr, tz)
    assert info.value.field == field


def test_naive_after_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        next_fire("* * * * *", "UTC", datetime(2026, 1, 1))
