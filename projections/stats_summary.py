"""Per-queue statistics summed over buckets: throughput, rates, averages and p50s (pure)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from projections.queue_stats import COUNT_FIELDS, HIST_BINS, merge_hist, percentile


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _durations(total: float, count: int, hist: Sequence[int]) -> dict[str, Any]:
    return {
        "count": count,
        "avg": total / count if count else None,
        "p50": percentile(hist, 0.5) if count else None,
    }


def window(
    row: Mapping[str, Any], hists: Mapping[str, Sequence[int]], seconds: float
) -> dict[str, Any]:
    """One window's figures from its summed row and histograms; `seconds` is its length.

    `throughput_per_minute`: tasks that reached an end (succeeded, dead-lettered or
    cancelled) per minute. `success_rate`: attempts that succeeded over attempts that
    succeeded or failed (a failure being a failed or timed-out attempt); None without any.
    """
    counts = {name: int(row.get(name) or 0) for name in COUNT_FIELDS}
    ended = counts["succeeded"] + counts["dead_lettered"] + counts["cancelled"]
    decided = counts["succeeded"] + counts["failed"]
    success = _ratio(counts["succeeded"], decided)
    return {
        **counts,
        "throughput_per_minute": ended * 60.0 / seconds if seconds > 0 else None,
        "success_rate": success,
        "failure_rate": None if success is None else 1.0 - success,
        "run_seconds": _durations(
            float(row.get("run_sum") or 0), int(row.get("run_count") or 0), hists.get("run", ())
        ),
        "wait_seconds": _durations(
            float(row.get("wait_sum") or 0),
            int(row.get("wait_count") or 0),
            hists.get("wait", ()),
        ),
    }


def summarize(
    rows: Sequence[Mapping[str, Any]],
    hists: Mapping[datetime, Mapping[str, Sequence[int]]],
    *,
    bucket_seconds: float,
    total_seconds: float,
) -> dict[str, Any]:
    """Totals over the whole range and one window per bucket that has data."""
    total: dict[str, Any] = {}
    total_hists: dict[str, list[int]] = {"run": [0] * HIST_BINS, "wait": [0] * HIST_BINS}
    buckets = []
    for row in rows:
        start = row["start"]
        per = hists.get(start, {})
        for kind in ("run", "wait"):
            total_hists[kind] = merge_hist(total_hists[kind], per.get(kind, ()))
        for name, value in row.items():
            if name != "start":
                total[name] = (total.get(name) or 0) + (value or 0)
        buckets.append({"start": start, **window(row, per, bucket_seconds)})
    return {"totals": window(total, total_hists, total_seconds), "buckets": buckets}
