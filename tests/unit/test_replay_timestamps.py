"""The replay's `timestamptz` codec stores what asyncpg's own would, and reads it back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from projections.replay.timestamps import (
    EPOCH,
    INFINITY,
    NEGATIVE_INFINITY,
    decode,
    encode,
)

OFFSETS = st.builds(
    lambda minutes: timezone(timedelta(minutes=minutes)), st.integers(-14 * 60, 14 * 60)
)


def test_microseconds_since_the_postgres_epoch() -> None:
    assert encode(EPOCH) == (0,)
    assert encode(datetime(2000, 1, 1, 0, 0, 0, 1, tzinfo=UTC)) == (1,)
    assert encode(datetime(1999, 12, 31, 23, 59, 59, tzinfo=UTC)) == (-1_000_000,)
    # The same moment in another offset is the same value.
    plus_two = timezone(timedelta(hours=2))
    assert encode(datetime(2026, 11, 28, 14, 0, tzinfo=plus_two)) == encode(
        datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    )


def test_a_naive_value_is_local_time_as_in_asyncpg() -> None:
    naive = datetime(2026, 11, 28, 12, 0)
    assert encode(naive) == encode(naive.astimezone(UTC))


def test_anything_else_is_refused_by_name() -> None:
    with pytest.raises(TypeError, match="expected a datetime for timestamptz"):
        encode("2026-11-28")  # type: ignore[arg-type]


def test_infinities_read_back_as_asyncpg_reads_them() -> None:
    assert decode((INFINITY,)) == datetime.max
    assert decode((NEGATIVE_INFINITY,)) == datetime.min


@given(st.datetimes(timezones=OFFSETS))
def test_what_is_written_reads_back_as_the_same_moment_in_utc(moment: datetime) -> None:
    back = decode(encode(moment))
    assert back == moment
    assert back.tzinfo is UTC
