"""Follows one topic from its beginning with a group-less consumer, keeping a ring per partition.

The current end of a partition is found by fetching (never `end_offsets()`, which the
embedded broker answers wrongly): the follower reads from offset 0 at startup and is
`ready` once its position reached every partition's fetch high watermark. Each partition
keeps its newest records in a bounded ring; older positions are read from the broker
again, with a short-lived consumer, when a client resumes from them.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Callable

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from api.tails.records import TailRecord
from taskstream.domain.errors import DecodeError
from taskstream.fetch_idle import set_base_wait
from taskstream.kafka import background_consumer_options, plain_consumer_options
from taskstream.settings import Settings

log = logging.getLogger(__name__)

Parse = Callable[[int, int, int, bytes | None], TailRecord]
BATCH = 500
REPLAY_STALL_SECONDS = 30.0


class TopicFollower:
    """Reads `topic` forever; hands every parsed record to `on_record`, in offset order."""

    def __init__(
        self,
        settings: Settings,
        topic: str,
        parse: Parse,
        on_record: Callable[[TailRecord], None],
        *,
        ring_max: int,
    ) -> None:
        self._settings = settings
        self._topic = topic
        self._parse = parse
        self._on_record = on_record
        self._ring_per_partition = max(1, ring_max // settings.partitions)
        self.positions: dict[int, int] = {}
        self._rings: dict[int, deque[TailRecord]] = {}
        self.ready = asyncio.Event()
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Assign every partition from offset 0 and start reading (unwatched: `watch`)."""
        consumer = AIOKafkaConsumer(**background_consumer_options(self._settings))
        await consumer.start()
        try:
            await consumer.topics()
            partitions = sorted(consumer.partitions_for_topic(self._topic) or ())
            if not partitions:
                raise RuntimeError(f"topic {self._topic} has no partitions")
            tps = [TopicPartition(self._topic, p) for p in partitions]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
        except BaseException:
            await consumer.stop()
            raise
        for p in partitions:
            self.positions[p] = 0
            self._rings[p] = deque(maxlen=self._ring_per_partition)
        self._consumer = consumer
        self._task = asyncio.create_task(self._run(tps), name=f"tail:{self._topic}")

    async def stop(self) -> None:
        """Stop reading."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._consumer is not None:
            await self._consumer.stop()

    def watch(self, watched: bool) -> None:
        """Follow at the readers' Fetch wait while a client is watching, at the background
        wait while none is: the rings and the task attributes still fill, a fraction of a
        second later, and an idle API asks the broker a quarter as often."""
        if self._consumer is not None:
            s = self._settings
            wait = s.fetch_observer_wait_ms if watched else s.fetch_background_wait_ms
            set_base_wait(self._consumer, wait)

    def buffered(self) -> int:
        """Records held in the rings."""
        return sum(len(r) for r in self._rings.values())

    async def _run(self, tps: list[TopicPartition]) -> None:
        assert self._consumer is not None
        consumer = self._consumer
        while True:
            try:
                batch = await consumer.getmany(timeout_ms=500, max_records=BATCH)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the broker may come and go; keep following
                log.warning("tail fetch failed", extra={"topic": self._topic, "error": repr(exc)})
                await asyncio.sleep(0.5)
                continue
            for tp, records in batch.items():
                for r in records:
                    self._ingest(tp.partition, r)
            if not self.ready.is_set() and self._caught_up(tps):
                log.info(
                    "tail caught up", extra={"topic": self._topic, "buffered": self.buffered()}
                )
                self.ready.set()

    def _ingest(self, partition: int, r: ConsumerRecord) -> None:
        if r.offset < self.positions[partition]:
            return
        self.positions[partition] = r.offset + 1
        try:
            record = self._parse(partition, r.offset, r.timestamp, r.value)
        except DecodeError:
            return  # the scheduler dead-letters undecodable records; a tail skips them
        self._rings[partition].append(record)
        self._on_record(record)

    def _caught_up(self, tps: list[TopicPartition]) -> bool:
        assert self._consumer is not None
        for tp in tps:
            high = self._consumer.highwater(tp)
            if high is None or self.positions[tp.partition] < high:
                return False
        return True

    async def replay(
        self, partition: int, start: int, stop: int
    ) -> AsyncGenerator[TailRecord, None]:
        """Records of `partition` in `[start, stop)`, from the ring or, if older, the broker."""
        cur = start
        while cur < stop:
            ring = self._rings.get(partition)
            if ring and ring[0].offset <= cur:
                i = bisect.bisect_left(ring, cur, key=lambda rec: rec.offset)
                chunk = [ring[j] for j in range(i, min(len(ring), i + BATCH))]
                chunk = [rec for rec in chunk if rec.offset < stop]
                if not chunk:
                    return  # the rest of the range held no decodable record
                for rec in chunk:
                    yield rec
                cur = chunk[-1].offset + 1
            else:
                upto = min(stop, ring[0].offset) if ring else stop
                async for rec in self._read_broker(partition, cur, upto):
                    yield rec
                cur = upto

    async def _read_broker(
        self, partition: int, start: int, stop: int
    ) -> AsyncIterator[TailRecord]:
        tp = TopicPartition(self._topic, partition)
        consumer = AIOKafkaConsumer(**plain_consumer_options(self._settings))
        await consumer.start()
        try:
            consumer.assign([tp])
            consumer.seek(tp, start)
            loop = asyncio.get_running_loop()
            progress = loop.time()
            while await consumer.position(tp) < stop:
                batch = await consumer.getmany(tp, timeout_ms=500, max_records=BATCH)
                records = batch.get(tp, [])
                if records:
                    progress = loop.time()
                elif loop.time() - progress > REPLAY_STALL_SECONDS:
                    raise TimeoutError(f"{self._topic}[{partition}] stalled at replay")
                for r in records:
                    if r.offset >= stop:
                        return
                    try:
                        yield self._parse(partition, r.offset, r.timestamp, r.value)
                    except DecodeError:
                        continue
        finally:
            await consumer.stop()
