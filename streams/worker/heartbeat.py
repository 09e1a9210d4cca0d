"""Liveness: the worker's own heartbeat (capacity for the scheduler) and its attempts' leases."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from streams.worker.dispatch import Dispatch
from taskstream.producer import CommandProducer

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class WorkerIdentity:
    """Who a worker is and what it offers."""

    worker_id: str
    queues: tuple[str, ...]
    concurrency: int
    host: str
    pid: int
    started_at: datetime
    # Task type -> the defaults it was registered with (`TaskSpec.defaults()`).
    types: dict[str, dict[str, Any]] = field(default_factory=dict)


def worker_record(
    me: WorkerIdentity,
    running: int,
    state: str,
    now: datetime,
    attempts: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """One heartbeat on the workers topic; the scheduler sums `concurrency` per queue.

    `attempts` (`task_id`, `tenant`, `attempt`, `started_at`) lists what runs now, for
    `GET /v1/workers`; readers treat a record without it as "not reported".
    """
    return {
        "worker": me.worker_id,
        "queues": list(me.queues),
        "concurrency": me.concurrency,
        "running": running,
        "host": me.host,
        "pid": me.pid,
        "started_at": me.started_at.isoformat(),
        "sent_at": now.isoformat(),
        "state": state,
        "attempts": attempts or [],
        # The scheduler fills the fields a submit omits from these (domain/defaults.py).
        "types": me.types,
    }


class WorkerHeartbeat:
    """Sends `state: up` every `worker_heartbeat_seconds`, and `state: down` once at the end."""

    def __init__(
        self,
        producer: CommandProducer,
        topic: str,
        me: WorkerIdentity,
        interval: float,
        running: Callable[[], int],
        attempts: Callable[[], list[dict[str, Any]]] | None = None,
    ) -> None:
        self._producer = producer
        self._attempts = attempts
        self._topic = topic
        self._me = me
        self._interval = interval
        self._running = running
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start beating."""
        self._task = asyncio.create_task(self._run(), name="worker-heartbeat")

    async def down(self) -> None:
        """Stop beating and say the worker is gone (taking no more work)."""
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
        await self._send("down")

    async def _run(self) -> None:
        while True:
            await self._send("up")
            await asyncio.sleep(self._interval)

    async def _send(self, state: str) -> None:
        attempts = self._attempts() if self._attempts is not None and state == "up" else []
        record = worker_record(self._me, self._running(), state, datetime.now(UTC), attempts)
        try:
            await self._producer.send_raw(self._topic, self._me.worker_id.encode(), record)
        except Exception as exc:  # the next beat may get through
            log.warning("worker heartbeat not sent", extra={"error": repr(exc)})


@dataclass(slots=True)
class _Running:
    dispatch: Dispatch
    last: float
    requested: bool = False


class AttemptBeats:
    """`attempt.heartbeat` for every running attempt each `interval`, sooner when asked.

    One task serves all attempts. A handler's own `ctx.heartbeat()` calls are coalesced to
    at most one report per `min_gap` seconds, so a chatty handler cannot flood the log.
    """

    def __init__(
        self,
        send: Callable[[Dispatch], Awaitable[None]],
        interval: float,
        *,
        min_gap: float = 1.0,
    ) -> None:
        self._send = send
        self._interval = interval
        self._min_gap = min(min_gap, interval)
        self._tick = min(1.0, interval / 4)
        self._running: dict[str, _Running] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the heartbeat task."""
        self._task = asyncio.create_task(self._run(), name="attempt-heartbeats")

    async def stop(self) -> None:
        """Stop it."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def add(self, dispatch: Dispatch) -> None:
        """An attempt started (its start report is its first lease)."""
        self._running[dispatch.dispatch_id] = _Running(dispatch, time.monotonic())

    def remove(self, dispatch: Dispatch) -> None:
        """An attempt ended."""
        self._running.pop(dispatch.dispatch_id, None)

    def request(self, dispatch_id: str) -> None:
        """A handler asked for a heartbeat now (event-loop thread only)."""
        entry = self._running.get(dispatch_id)
        if entry is not None:
            entry.requested = True
            if time.monotonic() - entry.last >= self._min_gap:
                self._wake.set()

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._tick):
                    await self._wake.wait()
            self._wake.clear()
            now = time.monotonic()
            due = [
                e
                for e in self._running.values()
                if now - e.last >= self._interval or (e.requested and now - e.last >= self._min_gap)
            ]
            for entry in due:
                entry.last, entry.requested = now, False
                try:
                    await self._send(entry.dispatch)
                except Exception as exc:  # the next beat may get through; the lease is long
                    log.warning("attempt heartbeat not sent", extra={"error": repr(exc)})
