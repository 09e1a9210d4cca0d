"""Fan-out of one tailed topic to its subscribers, each with a bounded queue.

Records are offered to the subscribers of their tenant only. A subscriber whose queue is
full is dropped at once and its queue freed: memory per client never exceeds its bound,
and the client is told to reconnect with its last cursor.
"""

from __future__ import annotations

import asyncio
from collections import deque

from api.tails.filters import TailFilter
from api.tails.records import TailRecord


class TooSlow(Exception):
    """The subscriber's queue overflowed."""

    def __init__(self, behind: int) -> None:
        super().__init__(
            f"client too slow: {behind} messages behind; reconnect with your last cursor"
        )
        self.behind = behind


class Subscriber:
    """One client's queue of records that passed its record-level filter."""

    def __init__(self, tenant: str, flt: TailFilter, max_queue: int) -> None:
        self.tenant = tenant
        self.filter = flt
        self._max = max_queue
        self._queue: deque[TailRecord] = deque()
        self._wake = asyncio.Event()
        self.overflowed = asyncio.Event()
        self.behind = 0

    @property
    def queued(self) -> int:
        """Records waiting to be sent."""
        return len(self._queue)

    def offer(self, record: TailRecord) -> bool:
        """Queue `record` if it matches; False once the queue overflowed (drop me)."""
        if self.overflowed.is_set():
            return False
        if not self.filter.matches_record(record):
            return True
        if len(self._queue) >= self._max:
            self.behind = len(self._queue) + 1
            self._queue.clear()
            self.overflowed.set()
            self._wake.set()
            return False
        self._queue.append(record)
        self._wake.set()
        return True

    async def get(self, idle: float | None = None) -> TailRecord | None:
        """The next record, or None after `idle` seconds; raises TooSlow after an overflow."""
        while not self._queue:
            if self.overflowed.is_set():
                raise TooSlow(self.behind)
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), idle)
            except TimeoutError:
                return None
        if self.overflowed.is_set():
            raise TooSlow(self.behind)
        return self._queue.popleft()


class Hub:
    """Subscribers of one stream, by tenant."""

    def __init__(self) -> None:
        self._subs: dict[str, set[Subscriber]] = {}

    def __len__(self) -> int:
        return sum(len(s) for s in self._subs.values())

    def add(self, sub: Subscriber) -> None:
        """Start offering records of `sub.tenant` to `sub`."""
        self._subs.setdefault(sub.tenant, set()).add(sub)

    def remove(self, sub: Subscriber) -> None:
        """Stop offering records to `sub` (idempotent)."""
        subs = self._subs.get(sub.tenant)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._subs[sub.tenant]

    def publish(self, record: TailRecord) -> None:
        """Offer `record` to its tenant's subscribers; drop those that overflowed."""
        subs = self._subs.get(record.tenant)
        if not subs:
            return
        for sub in list(subs):
            if not sub.offer(record):
                self.remove(sub)
