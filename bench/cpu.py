"""CPU seconds per part of the stack while a benchmark phase runs (Linux `/proc`).

A rate measured on 2 shared cores moves with the machine (seen: 1.5x within an hour for
the same code); the CPU each part spends for the same work moves much less, and says
where the time goes. `CpuSampler` reads every process's user and system time from
`/proc/<pid>/stat` every `interval` seconds in a thread, and sums the growth by role.
A process that appears during the phase (a replay process) counts from its start; what
one spends between its last sample and its exit is not seen (at most `interval`).
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from pathlib import Path
from types import TracebackType

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

# (substring of the command line, role): the first that matches names the process.
ROLES: tuple[tuple[str, str], ...] = (
    ("projections.replay.workers", "replay processes"),
    ("postgres", "postgres"),
    ("tansu", "broker"),
    ("valkey", "valkey"),
    ("-m taskstream api", "api"),
    ("-m taskstream scheduler", "scheduler"),
    ("-m taskstream worker", "worker"),
    ("-m taskstream projector", "projector"),
)


def role(cmdline: str, pid: int, own: int) -> str:
    """The role of a process from its command line (pure)."""
    if pid == own:
        return "benchmark"
    for needle, name in ROLES:
        if needle in cmdline:
            return name
    return "other"


def _stat(pid: str) -> tuple[int, str] | None:
    """(user+system ticks, start time) of one process, if it still exists."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat.rsplit(b")", 1)[1].split()
    return int(fields[11]) + int(fields[12]), fields[19].decode()


def _cmdline(pid: str) -> str | None:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return None


class CpuSampler:
    """`with CpuSampler() as cpu: ...`; then `cpu.seconds` holds core-seconds by role."""

    def __init__(self, interval: float = 0.2) -> None:
        self.interval = interval
        self.seconds: dict[str, float] = {}
        self.wall = 0.0
        self._ticks: Counter[str] = Counter()
        self._last: dict[tuple[int, str], int] = {}
        # Role of each process seen, read from its command line once (the sampler's own
        # CPU is part of what it measures: one file per process per sample, not two).
        # A process started during the phase and named "other" is read again: between
        # its fork and its exec it still shows its parent's command line.
        self._roles: dict[tuple[int, str], str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cpu-sampler", daemon=True)
        self._started = 0.0

    def _sample(self, *, first: bool) -> None:
        own = os.getpid()
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            read = _stat(pid)
            if read is None:
                continue
            ticks, start = read
            key = (int(pid), start)
            name = self._roles.get(key)
            if name is None:
                cmdline = _cmdline(pid)
                if cmdline is None:
                    continue
                name = role(cmdline, int(pid), own)
                if first or name != "other":
                    self._roles[key] = name
            before = self._last.get(key)
            # A process first seen after the start began during the phase: all its time.
            grown = ticks - before if before is not None else (0 if first else ticks)
            self._last[key] = ticks
            if grown:
                self._ticks[name] += grown

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample(first=False)

    def __enter__(self) -> CpuSampler:
        self._sample(first=True)
        self._started = time.monotonic()
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()
        self._sample(first=False)
        self.wall = time.monotonic() - self._started
        self.seconds = {name: round(t / _TICKS, 1) for name, t in self._ticks.most_common()}

    def figures(self, per: float | None = None) -> dict[str, object]:
        """The figures to save: core-seconds by role, cores busy on average, and the
        core-seconds per `per` units of work when given (e.g. per million events)."""
        total = sum(self.seconds.values())
        out: dict[str, object] = {
            "cpu_core_seconds": self.seconds,
            "cpu_cores_busy": round(total / self.wall, 2) if self.wall else None,
        }
        if per:
            out["cpu_core_seconds_per_million"] = {
                name: round(s * 1_000_000 / per, 1) for name, s in self.seconds.items()
            }
        return out
