"""When to restart a child that died: exponential backoff, forgiven after a stable run."""

from __future__ import annotations

from dataclasses import dataclass


def restart_delay(failures: int, *, base: float = 0.5, cap: float = 10.0) -> float:
    """Seconds to wait before restart number `failures + 1` of a crash streak (0.5, 1, 2 … 10)."""
    return float(min(cap, base * 2.0 ** max(0, failures)))


@dataclass(slots=True)
class RestartPolicy:
    """Tracks a child's crash streak; a run of `stable_after` seconds ends the streak."""

    base: float = 0.5
    cap: float = 10.0
    stable_after: float = 30.0
    streak: int = 0
    restarts: int = 0

    def next_delay(self, uptime: float) -> float:
        """Record one death after `uptime` seconds of running; return the wait before restart."""
        if uptime >= self.stable_after:
            self.streak = 0
        delay = restart_delay(self.streak, base=self.base, cap=self.cap)
        self.streak += 1
        self.restarts += 1
        return delay
