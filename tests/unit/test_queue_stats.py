"""Per-queue statistics, the pure part: histogram bins, folding and summaries."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from itertools import pairwise

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from projections.fold import FoldResult, fold_batch, merge
from projections.queue_models import add_part, stat_part
from projections.queue_stats import (
    HIST_BINS,
    StatKey,
    StatRow,
    bin_bounds,
    fold_stats,
    hist_bin,
    percentile,
)
from projections.stats_summary import summarize, window
from projections.synthetic import stream
from taskstream.domain import events as e
from taskstream.domain.envelope import Envelope
from taskstream.domain.state import Status, TaskState


@given(st.floats(0, 1e6, allow_nan=False))
def test_a_duration_lies_in_its_bin(seconds: float) -> None:
    k = hist_bin(seconds)
    lo, hi = bin_bounds(k)
    assert 0 <= k < HIST_BINS
    assert lo <= seconds * (1 + 1e-9) and (seconds < hi * (1 + 1e-9) or math.isinf(hi))


@given(st.floats(0.002, 5000, allow_nan=False))
def test_the_p50_of_one_value_is_within_a_bin_of_it(seconds: float) -> None:
    hist = [0] * HIST_BINS
    hist[hist_bin(seconds)] = 3
    p50 = percentile(hist, 0.5)
    assert p50 is not None
    assert seconds / math.sqrt(2) <= p50 * (1 + 1e-9) and p50 <= seconds * math.sqrt(2) * (1 + 1e-9)


def test_an_empty_histogram_has_no_percentile() -> None:
    assert percentile([0] * HIST_BINS, 0.5) is None


def accumulate(total: dict[StatKey, StatRow], rows: dict[StatKey, StatRow]) -> None:
    for key, row in rows.items():
        total.setdefault(key, StatRow()).add(row)


def flat(rows: dict[StatKey, StatRow]) -> dict[StatKey, tuple[object, ...]]:
    return {
        k: (
            tuple(sorted(r.counts.items())),
            round(r.run_sum, 6),
            r.run_count,
            tuple(r.run_hist),
            round(r.wait_sum, 6),
            r.wait_count,
            tuple(r.wait_hist),
        )
        for k, r in rows.items()
    }


def cut(events: list[Envelope], points: list[int]) -> list[list[Envelope]]:
    edges = sorted({0, len(events), *(p % (len(events) + 1) for p in points)})
    return [events[a:b] for a, b in pairwise(edges)]


def folded_batches(
    events: list[Envelope], points: list[int], *, times: int = 1
) -> Iterator[FoldResult]:
    """Each batch of `events` cut at `points` folded `times` times onto the table the
    batches before it left, as the projector applies them."""
    table: dict[str, TaskState] = {}
    for batch in cut(events, points):
        for _ in range(times):
            result = fold_batch(table, batch)
            yield result
            table = merge(table, result.changed)


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 8),
    st.integers(0, 10_000),
    st.lists(st.integers(0, 10_000), max_size=8),
)
def test_statistics_count_each_event_once_whatever_the_batches(
    n: int, seed: int, points: list[int]
) -> None:
    events = stream(n, seed=seed, order="random")
    whole = fold_stats(fold_batch({}, events).transitions)
    total: dict[StatKey, StatRow] = {}
    # Every batch applied twice: the second time moves nothing.
    for result in folded_batches(events, points, times=2):
        accumulate(total, fold_stats(result.transitions))
    assert flat(total) == flat(whole)


def test_statistics_agree_with_the_final_states() -> None:
    events = stream(80, seed=21)
    result = fold_batch({}, events)
    rows = fold_stats(result.transitions)
    summed = StatRow()
    for row in rows.values():
        summed.add(row)
    states = result.changed.values()
    attempts = [a for s in states for a in s.attempts]
    by_type: dict[str, int] = {}
    for ev in events:
        by_type[ev.type] = by_type.get(ev.type, 0) + 1
    assert summed.counts["submitted"] == len(result.changed)
    assert summed.counts["started"] == len(attempts)
    assert summed.counts["succeeded"] == sum(1 for s in states if s.status is Status.SUCCEEDED)
    assert summed.counts["dead_lettered"] == sum(1 for s in states if s.status is Status.DEAD)
    assert summed.counts["cancelled"] == sum(1 for s in states if s.status is Status.CANCELLED)
    assert summed.counts["retried"] == by_type.get(e.ATTEMPT_FAILED, 0) + by_type.get(
        e.ATTEMPT_TIMED_OUT, 0
    )
    failed = sum(1 for a in attempts if a.outcome in ("failed", "timed_out"))
    assert summed.counts["failed"] == failed
    assert summed.run_count == sum(1 for a in attempts if a.finished_at is not None)
    run = sum((a.finished_at - a.started_at).total_seconds() for a in attempts if a.finished_at)
    assert math.isclose(summed.run_sum, run)
    # Every attempt waited from a known ready time (tasks submitted ready or made ready).
    assert summed.wait_count == len(attempts)
    assert sum(summed.wait_hist) == summed.wait_count


def test_each_count_lands_in_the_minute_of_its_event() -> None:
    events = stream(30, seed=4)
    rows = fold_stats(fold_batch({}, events).transitions)
    submitted = {
        (ev.tenant, ev.payload["queue"], ev.occurred_at.replace(second=0, microsecond=0))
        for ev in events
        if ev.type == e.TASK_SUBMITTED
    }
    assert {k for k, r in rows.items() if r.counts["submitted"]} == submitted


def test_one_minute_in_two_utc_offsets_is_one_bucket() -> None:
    events = [ev for ev in stream(3, seed=4) if ev.type == e.TASK_SUBMITTED]
    shifted = [
        msgspec.structs.replace(
            ev, occurred_at=ev.occurred_at.astimezone(timezone(timedelta(hours=2)))
        )
        if i % 2
        else ev
        for i, ev in enumerate(events)
    ]
    assert flat(fold_stats(fold_batch({}, shifted).transitions)) == flat(
        fold_stats(fold_batch({}, events).transitions)
    )


def test_a_window_reports_rates_throughput_and_durations() -> None:
    hist = [0] * HIST_BINS
    hist[hist_bin(2.0)] = 4
    row = {"succeeded": 3, "failed": 1, "dead_lettered": 1, "run_sum": 8.0, "run_count": 4}
    w = window(row, {"run": hist}, 120.0)
    assert w["success_rate"] == 0.75 and w["failure_rate"] == 0.25
    assert w["throughput_per_minute"] == 2.0
    assert w["run_seconds"]["avg"] == 2.0
    assert 2.0 / math.sqrt(2) <= w["run_seconds"]["p50"] <= 2.0 * math.sqrt(2)
    assert w["wait_seconds"] == {"count": 0, "avg": None, "p50": None}
    assert window({}, {}, 60.0)["success_rate"] is None


def test_summarize_adds_buckets_into_totals() -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    t1 = datetime(2026, 1, 1, 0, 5, tzinfo=UTC)
    hist = [0] * HIST_BINS
    hist[hist_bin(1.0)] = 1
    rows = [
        {"start": t0, "submitted": 2, "succeeded": 1, "run_sum": 1.0, "run_count": 1},
        {"start": t1, "submitted": 1, "succeeded": 1, "run_sum": 1.0, "run_count": 1},
    ]
    out = summarize(
        rows, {t0: {"run": hist}, t1: {"run": hist}}, bucket_seconds=300, total_seconds=600
    )
    assert [b["start"] for b in out["buckets"]] == [t0, t1]
    assert out["totals"]["submitted"] == 3
    assert out["totals"]["run_seconds"]["count"] == 2
    assert out["totals"]["throughput_per_minute"] == 2 * 60 / 600


@settings(max_examples=40, deadline=None)
@given(
    st.integers(1, 8),
    st.integers(0, 10_000),
    st.lists(st.integers(0, 10_000), max_size=8),
)
def test_a_bulk_loads_statistics_parts_sum_to_the_whole_streams(
    n: int, seed: int, points: list[int]
) -> None:
    # What a bulk load stores per batch (`stat_part`) and sums at its end (`add_part`).
    events = stream(n, seed=seed, order="random")
    whole = fold_stats(fold_batch({}, events).transitions)
    total: dict[StatKey, StatRow] = {}
    for result in folded_batches(events, points):
        add_part(total, stat_part(fold_stats(result.transitions)))
    assert flat(total) == flat(whole)
    assert {k: (r.run_us, r.wait_us) for k, r in total.items()} == {
        k: (r.run_us, r.wait_us) for k, r in whole.items()
    }  # exact, not rounded
