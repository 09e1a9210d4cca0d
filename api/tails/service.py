"""`TailService`: the API process's live tails, and `Subscription`, one client's gapless stream.

A subscription registers with the hub and snapshots the follower's positions in the same
step (no await between), so every record is either in the replay range `[cursor,
snapshot)` or arrives live — never both, never neither. Records below the subscription's
next offset are skipped, so a cursor ahead of the follower yields no duplicate either.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import AsyncIterator

from api.tails import cursor as cursors
from api.tails.attrs import TaskAttrs, TaskLookup
from api.tails.filters import TailFilter
from api.tails.hub import Hub, Subscriber, TooSlow
from api.tails.records import Stream, TailRecord, message, parse_event, parse_log
from api.tails.source import TopicFollower
from taskstream.settings import Settings

log = logging.getLogger(__name__)

READY_TIMEOUT_SECONDS = 60.0


class TooManyStreams(Exception):
    """The API key has as many open tails as it may."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"too many open streams for this API key (limit {limit}); close one")
        self.limit = limit


class Subscription:
    """One client's tail: replay from its cursor, then live, with a cursor on every message."""

    def __init__(
        self,
        service: TailService,
        follower: TopicFollower,
        sub: Subscriber,
        start: dict[int, int],
        snapshot: dict[int, int],
        lookup: TaskLookup | None,
        key_id: str,
    ) -> None:
        self._service = service
        self._follower = follower
        self.subscriber = sub
        self._next = cursors.merge(start, {})
        self._snapshot = snapshot
        self._lookup = lookup
        self._key_id = key_id
        self._closed = False

    @property
    def stream(self) -> Stream:
        """`events` or `logs`."""
        return self.subscriber.filter.stream

    def cursor(self) -> str:
        """The cursor of everything handled so far."""
        return cursors.encode(self.stream, self._next)

    async def messages(self, idle: float | None = None) -> AsyncIterator[bytes | None]:
        """Messages as JSON bytes, None after `idle` seconds without one (for keep-alives).

        Raises `TooSlow` once the client fell too far behind.
        """
        sub = self.subscriber
        for partition, (low, high) in cursors.missing(self._next, self._snapshot).items():
            async with contextlib.aclosing(self._follower.replay(partition, low, high)) as replay:
                async for record in replay:
                    if sub.overflowed.is_set():
                        raise TooSlow(sub.behind)
                    if (out := await self._handle(record)) is not None:
                        yield out
            self._next = cursors.merge(self._next, {partition: high})
        while True:
            live = await sub.get(idle)
            if live is None:
                yield None
                continue
            if live.offset < self._next.get(live.partition, 0):
                continue  # already handled (a cursor ahead of the follower)
            if (out := await self._handle(live)) is not None:
                yield out

    async def _handle(self, record: TailRecord) -> bytes | None:
        flt = self.subscriber.filter
        self._next = cursors.advance(self._next, record.partition, record.offset)
        if record.tenant != self.subscriber.tenant or not flt.matches_record(record):
            return None
        if flt.needs_task:
            attrs = await self._service.attrs.resolve(record, self._lookup)
            if attrs is None or not flt.matches_task(*attrs):
                return None
        return message(self.stream, record, self.cursor())

    def close(self) -> None:
        """Unregister (idempotent)."""
        if not self._closed:
            self._closed = True
            self._service.release(self)


class TailService:
    """Followers of the events and logs topics (started on first use) and their hubs."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self.attrs = TaskAttrs(settings.tail_task_cache_size)
        self.hubs: dict[Stream, Hub] = {"events": Hub(), "logs": Hub()}
        self._followers: dict[Stream, TopicFollower] = {}
        self._lock = asyncio.Lock()
        self._per_key: Counter[str] = Counter()
        self._warming: list[asyncio.Future[None]] = []

    def open_streams(self, key_id: str) -> int:
        """Tails open with this key."""
        return self._per_key[key_id]

    async def follower(self, stream: Stream) -> TopicFollower:
        """The follower of `stream`, started and caught up."""
        async with self._lock:
            found = self._followers.get(stream)
            if found is None:
                found = self._make(stream)
                await found.start()
                self._followers[stream] = found
        await asyncio.wait_for(found.ready.wait(), READY_TIMEOUT_SECONDS)
        return found

    def warm(self) -> None:
        """Start following both topics in the background, so the first client need not wait."""

        async def start(stream: Stream) -> None:
            try:
                await self.follower(stream)
            except Exception as exc:  # retried by the first subscription
                log.warning("tail not started", extra={"stream": stream, "error": repr(exc)})

        for stream in self.hubs:
            self._warming.append(asyncio.ensure_future(start(stream)))

    def _make(self, stream: Stream) -> TopicFollower:
        s = self._settings
        if stream == "events":
            return TopicFollower(
                s, s.topic("events"), parse_event, self._on_event, ring_max=s.tail_ring_max
            )
        return TopicFollower(
            s, s.topic("logs"), parse_log, self.hubs["logs"].publish, ring_max=s.tail_ring_max
        )

    def _on_event(self, record: TailRecord) -> None:
        self.attrs.remember(record)
        self.hubs["events"].publish(record)

    async def subscribe(
        self,
        *,
        tenant: str,
        key_id: str,
        flt: TailFilter,
        cursor: str | None,
        lookup: TaskLookup | None,
    ) -> Subscription:
        """Register a tail (raises CursorError, TooManyStreams); `close()` it when done."""
        start = cursors.decode(flt.stream, cursor) if cursor else None
        limit = self._settings.tail_max_streams_per_key
        if self._per_key[key_id] >= limit:
            raise TooManyStreams(limit)
        self._per_key[key_id] += 1
        try:
            follower = await self.follower(flt.stream)
        except BaseException:
            self._drop_key(key_id)
            raise
        # No await from here to the end: registration and snapshot are one step.
        sub = Subscriber(tenant, flt, self._settings.tail_client_queue_max)
        self.hubs[flt.stream].add(sub)
        follower.watch(True)
        snapshot = dict(follower.positions)
        begin = start if start is not None else snapshot
        return Subscription(self, follower, sub, begin, snapshot, lookup, key_id)

    def release(self, subscription: Subscription) -> None:
        """Forget a closed subscription."""
        hub = self.hubs[subscription.stream]
        hub.remove(subscription.subscriber)
        self._drop_key(subscription._key_id)
        follower = self._followers.get(subscription.stream)
        if not hub and follower is not None:
            follower.watch(False)

    def _drop_key(self, key_id: str) -> None:
        self._per_key[key_id] -= 1
        if self._per_key[key_id] <= 0:
            del self._per_key[key_id]

    async def close(self) -> None:
        """Stop the followers."""
        for warming in self._warming:
            warming.cancel()
        await asyncio.gather(*self._warming, return_exceptions=True)
        for follower in self._followers.values():
            await follower.stop()
        self._followers.clear()
