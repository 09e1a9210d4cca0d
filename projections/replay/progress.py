"""How far a replay is, how fast it goes and when it ends (pure), and a rich progress bar.

The total is the sum of the partitions' high watermarks from Fetch responses (never
`end_offsets()`), so it grows while producers append; the rate is measured over a
sliding window of recent samples.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any


def records_total(highwaters: Mapping[int, int], starts: Mapping[int, int]) -> int:
    """Records between each partition's start offset and its high watermark."""
    return sum(max(0, hw - starts.get(p, 0)) for p, hw in highwaters.items())


@dataclass(slots=True)
class Rate:
    """Records per second over the last `window` seconds of samples."""

    window: float = 5.0
    samples: deque[tuple[float, int]] = field(default_factory=deque)

    def add(self, at: float, done: int) -> None:
        """Record that `done` records were done at time `at` (seconds, monotonic)."""
        self.samples.append((at, done))
        while len(self.samples) > 2 and at - self.samples[0][0] > self.window:
            self.samples.popleft()

    def per_second(self) -> float:
        """The rate over the window (0 until two samples are apart in time)."""
        if len(self.samples) < 2:
            return 0.0
        (t0, d0), (t1, d1) = self.samples[0], self.samples[-1]
        return (d1 - d0) / (t1 - t0) if t1 > t0 else 0.0


def eta_seconds(done: int, total: int, rate: float) -> float | None:
    """Seconds left at `rate` (None when unknown)."""
    if rate <= 0:
        return None if done < total else 0.0
    return max(0, total - done) / rate


def format_eta(seconds: float | None) -> str:
    """`1:02:03`, `4:05`, or `?`."""
    if seconds is None:
        return "?"
    s = round(seconds)
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02}:{s:02}" if h else f"{m}:{s:02}"


class Bar:
    """A rich progress bar with one line per topic (quiet: does nothing)."""

    def __init__(self, *, quiet: bool = False) -> None:
        self.quiet = quiet
        self._progress: Any = None
        self._tasks: dict[str, Any] = {}
        self._rates: dict[str, Rate] = {}

    def __enter__(self) -> Bar:
        if not self.quiet:
            from rich.progress import BarColumn, Progress, TextColumn

            self._progress = Progress(
                TextColumn("{task.description:<8}"),
                BarColumn(),
                TextColumn("{task.completed:>12,.0f}/{task.total:<12,.0f}"),
                TextColumn("{task.fields[rate]:>10} rec/s  ETA {task.fields[eta]}"),
                transient=False,
            )
            self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._progress.stop()

    def update(self, name: str, done: int, total: int, at: float) -> None:
        """Show `done` of `total` records of `name` at time `at`."""
        rate = self._rates.setdefault(name, Rate())
        rate.add(at, done)
        if self._progress is None:
            return
        per_s = rate.per_second()
        fields = {"rate": f"{per_s:,.0f}", "eta": format_eta(eta_seconds(done, total, per_s))}
        if name not in self._tasks:
            self._tasks[name] = self._progress.add_task(name, total=total, **fields)
        self._progress.update(self._tasks[name], completed=done, total=max(total, done), **fields)
