"""Concurrency slots: how many attempts a worker may hold at once (running or starting)."""

from __future__ import annotations

import asyncio
import contextlib


class Slots:
    """A counter of busy slots that fetchers can wait on."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.used = 0
        self._freed = asyncio.Event()

    @property
    def free(self) -> int:
        """Slots not in use."""
        return self.total - self.used

    def try_take(self) -> bool:
        """Take a slot if one is free."""
        if self.used >= self.total:
            return False
        self.used += 1
        return True

    def force_take(self) -> None:
        """Count a slot as taken even when none is free (to balance a `release` due)."""
        self.used += 1

    def release(self) -> None:
        """Give a slot back."""
        self.used -= 1
        self._freed.set()

    async def wait_free(self, timeout: float) -> None:
        """Return when a slot is free, or after `timeout` seconds."""
        if self.free > 0:
            return
        self._freed.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._freed.wait()
