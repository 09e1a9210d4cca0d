"""Idle fetch waits: a consumer that has found nothing for a while asks the broker less often.

Each consumer at the head of its partitions asks the broker about 1000/wait times a
second whether or not anything happens; on the task path (10 ms) that is 100 Fetches a
second per consumer, and on an idle embedded stack the broker's and the services'
polling took 0.45 of a core (of 2). Once a consumer's Fetches have come back empty for
`fetch_idle_after_ms`, its wait grows to `fetch_idle_wait_ms`; the first Fetch that
brings records sets it back. Under load nothing changes; the first record after a quiet
spell waits a few milliseconds longer (`bench.fetch_wait`: p50/p95 7.9/25 ms at a 50 ms
wait against 3.6/6.9 ms at 10 ms). Consumers whose own wait is longer keep it.

aiokafka has no hook for this, so its `Fetcher._proc_fetch_request` (which returns
whether the response brought records) is wrapped once per process; Faust's consumer is
an aiokafka consumer too.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from aiokafka.consumer.fetcher import Fetcher

from taskstream.settings import Settings


@dataclass(slots=True)
class IdleWait:
    """One fetcher's wait: its own (`base_ms`), or `idle_ms` after `idle_after` quiet
    seconds (pure: the caller passes the time)."""

    base_ms: int
    idle_ms: int
    idle_after: float
    last_records: float

    def next_wait(self, got_records: bool, now: float) -> int:
        """The wait of the next Fetch, after one that did (or did not) bring records."""
        if got_records:
            self.last_records = now
            return self.base_ms
        if now - self.last_records >= self.idle_after:
            return max(self.base_ms, self.idle_ms)
        return self.base_ms


@dataclass(slots=True)
class _Policy:
    idle_ms: int
    idle_after: float


_POLICY: _Policy | None = None
_ATTR = "_taskstream_idle_wait"


def install(settings: Settings) -> None:
    """Let every aiokafka fetcher of this process wait longer while idle (off when
    `fetch_idle_wait_ms` is 0). Idempotent; a later call changes the policy."""
    global _POLICY
    if settings.fetch_idle_wait_ms <= 0:
        _POLICY = None
        return
    _POLICY = _Policy(settings.fetch_idle_wait_ms, settings.fetch_idle_after_ms / 1000)
    original = Fetcher._proc_fetch_request
    if getattr(original, "_taskstream_wrapped", False):
        return

    async def proc_fetch_request(self: Any, assignment: Any, node_id: Any, request: Any) -> Any:
        got = await original(self, assignment, node_id, request)
        policy = _POLICY
        if policy is not None:
            now = time.monotonic()
            state: IdleWait | None = getattr(self, _ATTR, None)
            if state is None:
                state = IdleWait(self._fetch_max_wait_ms, policy.idle_ms, policy.idle_after, now)
                setattr(self, _ATTR, state)
            state.idle_ms, state.idle_after = policy.idle_ms, policy.idle_after
            self._fetch_max_wait_ms = state.next_wait(bool(got), now)
        return got

    proc_fetch_request._taskstream_wrapped = True  # type: ignore[attr-defined]
    Fetcher._proc_fetch_request = proc_fetch_request  # type: ignore[method-assign]


def set_base_wait(consumer: Any, ms: int) -> None:
    """Make `ms` the own wait of a started aiokafka consumer's Fetches, from the next one
    on (after a quiet spell the idle wait applies again when it is longer)."""
    fetcher = consumer._fetcher
    state: IdleWait | None = getattr(fetcher, _ATTR, None)
    if state is not None:
        state.base_ms = ms
    fetcher._fetch_max_wait_ms = ms


def current_wait_ms(fetcher: Any) -> int:
    """The wait `fetcher`'s next Fetch asks for (for tests and diagnostics)."""
    return int(fetcher._fetch_max_wait_ms)
