"""Per-queue statistics, the pure part: what each folded event adds to its minute.

One row per (tenant, queue, minute of the event's `occurred_at`):

- `submitted`, `started` (attempts), `succeeded` (tasks), `retried` (attempts that failed
  or timed out with a retry to follow), `dead_lettered`, `cancelled`, `redriven`;
- `failed`: attempts that ended failed or timed out, whatever came next (retry, dead
  letter, or the end of a cancelled task);
- run time (attempt start to its end, counted in the minute it ended) and wait time
  (the task became ready to its attempt's start, counted in the minute it started): a
  sum, a count and a histogram each, so ranges can report an average and a p50.

Computed from the fold's transitions, so the counting is idempotent by task version like
the `tasks` rows: an event at or below the stored version never reaches here.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from projections.fold import Transition
from taskstream.domain import events as e

# Histogram bins: bin 0 is < 1 ms, bin k (1..HIST_BINS-2) is [1 ms·√2^(k-1), 1 ms·√2^k),
# the last bin everything above (about 3 h). A p50 read from it is within a factor √2.
HIST_BINS: Final = 50
_BASE: Final = 0.001
_STEP: Final = math.sqrt(2.0)
_LOG_STEP: Final = math.log(_STEP)

COUNT_FIELDS: Final = (
    "submitted",
    "started",
    "succeeded",
    "failed",
    "retried",
    "dead_lettered",
    "cancelled",
    "redriven",
)

_EVENT_FIELD: Final = {
    e.TASK_SUBMITTED: "submitted",
    e.ATTEMPT_STARTED: "started",
    e.TASK_SUCCEEDED: "succeeded",
    e.ATTEMPT_FAILED: "retried",
    e.ATTEMPT_TIMED_OUT: "retried",
    e.TASK_DEAD_LETTERED: "dead_lettered",
    e.TASK_CANCELLED: "cancelled",
    e.TASK_REDRIVEN: "redriven",
}


def hist_bin(seconds: float) -> int:
    """The histogram bin of a duration."""
    if seconds < _BASE:
        return 0
    k = math.floor(math.log(seconds / _BASE) / _LOG_STEP) + 1  # what log(x, _STEP) computes
    return min(max(k, 1), HIST_BINS - 1)


def bin_bounds(k: int) -> tuple[float, float]:
    """Lower and upper bound (seconds) of bin `k`; the last bin's upper bound is infinite."""
    if k <= 0:
        return 0.0, _BASE
    upper = _BASE * _STEP**k if k < HIST_BINS - 1 else math.inf
    return _BASE * _STEP ** (k - 1), upper


def percentile(hist: Sequence[int], q: float) -> float | None:
    """The `q` quantile (0..1) of a histogram, interpolated within its bin; None if empty."""
    total = sum(hist)
    if total <= 0:
        return None
    rank = q * total
    seen = 0
    for k, n in enumerate(hist):
        if n and seen + n >= rank:
            lo, hi = bin_bounds(k)
            if math.isinf(hi):
                return lo
            return lo + (hi - lo) * max(0.0, rank - seen) / n
        seen += n
    return bin_bounds(len(hist) - 1)[0]


def merge_hist(a: Sequence[int], b: Sequence[int]) -> list[int]:
    """Element-wise sum of two histograms (the shorter padded with zeros)."""
    if len(a) == len(b):  # always, but for rows stored with another bin count
        return list(map(operator.add, a, b))
    n = max(len(a), len(b))
    return [(a[i] if i < len(a) else 0) + (b[i] if i < len(b) else 0) for i in range(n)]


@dataclass(slots=True)
class StatRow:
    """What one (tenant, queue, minute) gained."""

    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNT_FIELDS, 0))
    # Sums in whole microseconds: integer sums are the same in any order, so a rebuild
    # with other batch boundaries gives the very same row (float sums differ in the last
    # digits, and `replay verify` would report them).
    run_us: int = 0
    run_count: int = 0
    run_hist: list[int] = field(default_factory=lambda: [0] * HIST_BINS)
    wait_us: int = 0
    wait_count: int = 0
    wait_hist: list[int] = field(default_factory=lambda: [0] * HIST_BINS)

    @property
    def run_sum(self) -> float:
        """Summed run time, in seconds."""
        return self.run_us / 1e6

    @property
    def wait_sum(self) -> float:
        """Summed wait time, in seconds."""
        return self.wait_us / 1e6

    def run(self, seconds: float) -> None:
        """Count one attempt's run time."""
        self.run_us += round(seconds * 1e6)
        self.run_count += 1
        self.run_hist[hist_bin(seconds)] += 1

    def wait(self, seconds: float) -> None:
        """Count one attempt's wait (ready to start)."""
        self.wait_us += round(seconds * 1e6)
        self.wait_count += 1
        self.wait_hist[hist_bin(seconds)] += 1

    def add(self, other: StatRow) -> None:
        """Add `other` into this row."""
        for name, n in other.counts.items():
            self.counts[name] += n
        self.run_us += other.run_us
        self.run_count += other.run_count
        self.run_hist = merge_hist(self.run_hist, other.run_hist)
        self.wait_us += other.wait_us
        self.wait_count += other.wait_count
        self.wait_hist = merge_hist(self.wait_hist, other.wait_hist)


# The only events whose fold sets an attempt's `finished_at` (see `evolve._finish`).
_ENDS_ATTEMPTS = frozenset(
    {
        e.ATTEMPT_FAILED,
        e.ATTEMPT_TIMED_OUT,
        e.TASK_SUCCEEDED,
        e.TASK_DEAD_LETTERED,
        e.TASK_CANCELLED,
    }
)

StatKey = tuple[str, str, datetime]  # (tenant, queue, minute)


def minute(moment: datetime) -> datetime:
    """The minute bucket a moment falls in."""
    return moment.replace(second=0, microsecond=0)


def fold_stats(transitions: Iterable[Transition]) -> dict[StatKey, StatRow]:
    """The statistics a batch's transitions add, per (tenant, queue, minute)."""
    # Rows are found by the minute's fields, not by a truncated datetime: `replace` and
    # a new datetime's hash cost about as much as the rest of the counting (a rebuild
    # runs this for every event).
    rows: dict[tuple[Any, ...], StatRow] = {}
    buckets: dict[tuple[Any, ...], StatKey] = {}
    field_of = _EVENT_FIELD.get
    for before, ev, after in transitions:
        at = ev.occurred_at
        fields = (after.tenant, after.queue, at.year, at.month, at.day, at.hour, at.minute,
                  at.tzinfo)  # fmt: skip
        row = rows.get(fields)
        if row is None:  # not `setdefault`: a new row is two histograms and a dict
            row = rows[fields] = StatRow()
            buckets[fields] = (after.tenant, after.queue, minute(at))
        kind = ev.type
        name = field_of(kind)
        if name is None:
            continue  # counts nothing (a dispatch, a task made ready), ends no attempt
        row.counts[name] += 1
        if kind == e.ATTEMPT_STARTED:
            if before is not None and before.ready_at is not None:
                attempt = after.current_attempt
                if attempt is not None:
                    row.wait(max(0.0, (attempt.started_at - before.ready_at).total_seconds()))
            continue
        if kind not in _ENDS_ATTEMPTS:
            continue  # no attempt finished: nothing ran to count
        ended = {a.number for a in before.attempts if a.finished_at} if before else ()
        for attempt in after.attempts:
            if attempt.finished_at is None or attempt.number in ended:
                continue
            row.run(max(0.0, (attempt.finished_at - attempt.started_at).total_seconds()))
            if attempt.outcome in ("failed", "timed_out"):
                row.counts["failed"] += 1
    out: dict[StatKey, StatRow] = {}
    # The same minute in another UTC offset is the same bucket.
    add_stats(out, ((buckets[fields], row) for fields, row in rows.items()))
    return out


def add_stats(into: dict[StatKey, StatRow], rows: Iterable[tuple[StatKey, StatRow]]) -> None:
    """Add `rows` into `into`, bucket by bucket (a row new to `into` is taken over)."""
    for key, row in rows:
        total = into.get(key)
        if total is None:
            into[key] = row
        else:
            total.add(row)


def exact_seconds(us: int) -> str:
    """Microseconds as an exact decimal number of seconds (for a `numeric` column)."""
    sign = "-" if us < 0 else ""
    whole, frac = divmod(abs(us), 1_000_000)
    return f"{sign}{whole}.{frac:06d}"


def stat_records(rows: Mapping[StatKey, StatRow]) -> list[dict[str, Any]]:
    """The rows as records for the upsert (one JSON document)."""
    return [
        {
            "tenant": tenant,
            "queue": queue,
            "bucket": bucket,
            **row.counts,
            "run_sum": exact_seconds(row.run_us),
            "run_count": row.run_count,
            "run_hist": row.run_hist,
            "wait_sum": exact_seconds(row.wait_us),
            "wait_count": row.wait_count,
            "wait_hist": row.wait_hist,
        }
        for (tenant, queue, bucket), row in rows.items()
    ]
