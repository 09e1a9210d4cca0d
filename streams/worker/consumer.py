"""One queue's dispatch consumer: fetch only as many records as there are free slots.

The scheduler paces dispatch by the workers' capacity and keeps priority order in its own
state, so a worker must not hoard records: it takes at most `free` records per poll,
pauses its partitions while every slot is busy (after a second of that, aiokafka's
prefetch for them is dropped too, and fetched again on resume), and when two queues raced
for the last slots it seeks back to the first record it could not take. A record is only
"taken" (started, committable) with a slot; what aiokafka buffers is not, and is fetched
again by whoever owns the partition next.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener

from streams.worker.offsets import OffsetTracker
from streams.worker.slots import Slots
from taskstream.kafka import group_consumer_options
from taskstream.settings import Settings

log = logging.getLogger(__name__)

OnRecord = Callable[["QueueConsumer", TopicPartition, ConsumerRecord[bytes, bytes]], None]

_POLL_MS = 500
_COMMIT_EVERY = 0.2
# How long a revoked partition waits for its in-flight starts before its offsets commit.
_SETTLE_TIMEOUT = 3.0


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, owner: QueueConsumer) -> None:
        self._owner = owner

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._owner.hand_over(set(revoked))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        log.info(
            "partitions assigned",
            extra={
                "queue": self._owner.queue,
                "partitions": sorted(tp.partition for tp in assigned),
            },
        )


class QueueConsumer:
    """Group member on `dispatch.<queue>`; commits only past settled records."""

    def __init__(self, settings: Settings, queue: str, slots: Slots, on_record: OnRecord) -> None:
        self.queue = queue
        self.topic = settings.dispatch_topic(queue)
        self.group_id = f"{settings.topic_prefix}.workers.{queue}"
        self.tracker = OffsetTracker()
        self._slots = slots
        self._on_record = on_record
        self._consumer = AIOKafkaConsumer(**group_consumer_options(settings, self.group_id))
        self._fetch: asyncio.Task[None] | None = None
        self._commit: asyncio.Task[None] | None = None
        self._settled = asyncio.Event()
        self._fetching = True

    async def start(self) -> None:
        """Join the group and start fetching."""
        await self._consumer.start()
        self._consumer.subscribe([self.topic], listener=_Rebalance(self))
        self._fetch = asyncio.create_task(self._fetch_loop(), name=f"fetch-{self.queue}")
        self._commit = asyncio.create_task(self._commit_loop(), name=f"commit-{self.queue}")

    async def stop_fetching(self) -> None:
        """Take no more records (those already taken keep running)."""
        # The flag, not only the cancel: a cancel that races a wake-up can be swallowed.
        self._fetching = False
        if self._fetch is not None:
            self._fetch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._fetch
            self._fetch = None

    async def close(self) -> None:
        """Commit what is settled and leave the group, so others take the partitions over."""
        await self.stop_fetching()
        await self._wait_settled(None, _SETTLE_TIMEOUT)
        if self._commit is not None:
            self._commit.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._commit
        await self._commit_ready()
        await self._consumer.stop()

    async def hand_over(self, revoked: set[TopicPartition]) -> None:
        """Before losing partitions: let their starts settle, commit, forget them."""
        await self._wait_settled(revoked, _SETTLE_TIMEOUT)
        await self._commit_ready()
        self.tracker.forget(revoked)
        if revoked:
            log.info(
                "partitions revoked",
                extra={"queue": self.queue, "partitions": sorted(tp.partition for tp in revoked)},
            )

    def settle(self, tp: TopicPartition, offset: int) -> None:
        """A taken record's start is acknowledged (or it needed none): its offset may commit."""
        self.tracker.settle(tp, offset)
        self._settled.set()

    async def _fetch_loop(self) -> None:
        consumer = self._consumer
        while self._fetching:
            free = self._slots.free
            if free <= 0:
                # Full: fetch nothing more. A slot freed soon resumes with what was already
                # fetched; a poll on the paused partitions each second keeps the group
                # membership alive and drops that prefetch.
                consumer.pause(*consumer.assignment())
                await self._slots.wait_free(1.0)
                if self._slots.free <= 0:
                    await consumer.getmany(timeout_ms=0)
                continue
            paused = consumer.paused()
            if paused:
                consumer.resume(*paused)
            batches = await consumer.getmany(timeout_ms=_POLL_MS, max_records=free)
            for tp, records in batches.items():
                for record in records:
                    if not self._fetching or not self._slots.try_take():
                        # Stopping, or another queue took the slot: leave it to the next fetch.
                        consumer.seek(tp, record.offset)
                        break
                    self.tracker.take(tp, record.offset)
                    self._on_record(self, tp, record)

    async def _commit_loop(self) -> None:
        while True:
            await asyncio.sleep(_COMMIT_EVERY)
            await self._commit_ready()

    async def _commit_ready(self) -> None:
        points = self.tracker.committable()
        if not points:
            return
        try:
            await self._consumer.commit(points)
        except Exception as exc:
            # A rebalance is under way; the partitions we keep commit on the next round.
            log.warning("offset commit failed", extra={"queue": self.queue, "error": repr(exc)})
            kept = self._consumer.assignment()
            self.tracker.restore({tp: o for tp, o in points.items() if tp in kept})

    async def _wait_settled(self, partitions: set[TopicPartition] | None, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.tracker.unsettled(partitions) and (left := deadline - time.monotonic()) > 0:
            self._settled.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(left):
                    await self._settled.wait()
