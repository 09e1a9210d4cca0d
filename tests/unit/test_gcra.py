"""The rate limiter's arithmetic (GCRA), without Redis."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from api.gcra import MICROS, Decision, gcra, interval_us
from api.ratelimit import verdict

SECOND = MICROS


def run(times: list[int], *, rate: float, burst: int) -> list[Decision]:
    tat: int | None = None
    out = []
    for now in times:
        d = gcra(tat, now, interval=interval_us(rate), burst=burst)
        tat = d.tat
        out.append(d)
    return out


def test_a_fresh_key_gets_its_whole_burst_at_once_then_is_refused() -> None:
    decisions = run([0] * 6, rate=10, burst=5)
    assert [d.allowed for d in decisions] == [True] * 5 + [False]
    assert [d.remaining for d in decisions[:5]] == [4, 3, 2, 1, 0]
    # The next request may pass one interval (0.1 s) later.
    assert decisions[5].retry_after_us == SECOND // 10


def test_after_the_burst_one_request_per_interval_passes() -> None:
    interval = SECOND // 10
    times = [0] * 5 + [interval * k for k in range(1, 11)]
    assert all(d.allowed for d in run(times, rate=10, burst=5))
    assert not run([*times, 10 * interval], rate=10, burst=5)[-1].allowed


def test_a_refusal_does_not_consume_the_allowance() -> None:
    decisions = run([0] * 5 + [0] * 100 + [SECOND // 10], rate=10, burst=5)
    assert decisions[-1].allowed


def test_an_idle_key_recovers_its_full_burst() -> None:
    decisions = run([0] * 5 + [SECOND] * 6, rate=10, burst=5)
    assert [d.allowed for d in decisions[5:]] == [True] * 5 + [False]


@given(
    rate=st.floats(min_value=0.5, max_value=10_000),
    burst=st.integers(min_value=1, max_value=500),
    gaps=st.lists(st.integers(min_value=0, max_value=2 * SECOND), min_size=1, max_size=300),
)
def test_never_more_than_burst_plus_rate_times_elapsed(
    rate: float, burst: int, gaps: list[int]
) -> None:
    times, now = [], 0
    for gap in gaps:
        now += gap
        times.append(now)
    decisions = run(times, rate=rate, burst=burst)
    allowed = sum(d.allowed for d in decisions)
    interval = interval_us(rate)
    assert allowed <= burst + (times[-1] - times[0]) // interval
    for d in decisions:
        assert 0 <= d.remaining < burst
        assert d.allowed == (d.retry_after_us == 0)


def test_headers_round_seconds_up_and_retry_after_is_at_least_one() -> None:
    refused = gcra(SECOND * 10, 0, interval=SECOND // 100, burst=1)
    v = verdict(refused, limit=1)
    assert not v.allowed
    assert v.headers["Retry-After"] == "10" and v.headers["RateLimit-Remaining"] == "0"
    allowed = verdict(gcra(None, 0, interval=1000, burst=3), limit=3)
    assert "Retry-After" not in allowed.headers
    assert allowed.headers == {
        "RateLimit-Limit": "3",
        "RateLimit-Remaining": "2",
        "RateLimit-Reset": "1",
    }


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError):
        interval_us(0)
    with pytest.raises(ValueError):
        gcra(None, 0, interval=10, burst=0)
