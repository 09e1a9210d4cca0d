"""Read chosen partitions of one topic from given offsets up to (never past) given targets.

Positions and ends come from Fetch responses (`highwater`), never from `end_offsets()`
or `seek_to_end()`: the embedded broker answers ListOffsets wrongly for multi-record
batches (see docs/architecture.md, "Broker facts").
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from taskstream.kafka import plain_consumer_options
from taskstream.settings import Settings


class PartitionReader:
    """A group-less consumer over some partitions of `topic`, each from its own offset."""

    def __init__(self, settings: Settings, topic: str, starts: Mapping[int, int]) -> None:
        self.topic = topic
        self.next: dict[int, int] = dict(starts)
        self._tps = {p: TopicPartition(topic, p) for p in starts}
        self._consumer = AIOKafkaConsumer(
            **plain_consumer_options(settings), max_partition_fetch_bytes=8 << 20
        )

    async def start(self) -> None:
        """Connect and position every partition at its start offset."""
        await self._consumer.start()
        self._consumer.assign(list(self._tps.values()))
        for p, tp in self._tps.items():
            self._consumer.seek(tp, self.next[p])

    def _fetch_only(self, active: list[TopicPartition]) -> None:
        """Let the consumer's background fetches cover `active` only.

        An unpaused partition is fetched again and again, even at its target or at the
        head: the embedded broker holds such a Fetch only for the fetch wait (10 ms), and
        each costs it about a millisecond of CPU (in a rebuild, the readers of an empty
        logs topic and the parent's idle ones cost the broker more CPU than reading the
        whole log). Records a paused partition had buffered are dropped; its position
        stays where reading stopped.
        """
        paused = self._consumer.paused()
        stop = [tp for tp in self._tps.values() if tp not in active and tp not in paused]
        go = [tp for tp in active if tp in paused]
        if stop:
            self._consumer.pause(*stop)
        if go:
            self._consumer.resume(*go)

    async def stop(self) -> None:
        """Disconnect."""
        await self._consumer.stop()

    def highwaters(self) -> dict[int, int]:
        """The high watermark of each partition a Fetch response has reported so far."""
        out = {}
        for p, tp in self._tps.items():
            hw = self._consumer.highwater(tp)
            if hw is not None:
                out[p] = hw
        return out

    async def learn_highwaters(self, timeout: float = 30.0) -> dict[int, int]:
        """Fetch until every partition's high watermark is known (records fetched meanwhile
        are dropped: the positions are set back)."""
        deadline = time.monotonic() + timeout
        while len(self.highwaters()) < len(self._tps):
            if time.monotonic() > deadline:
                missing = sorted(set(self._tps) - set(self.highwaters()))
                raise TimeoutError(f"no fetch response for {self.topic} partitions {missing}")
            await self._consumer.getmany(timeout_ms=100, max_records=1)
            for p, tp in self._tps.items():
                self._consumer.seek(tp, self.next[p])
        self._fetch_only([])  # until a fetch asks for some
        return self.highwaters()

    def seek(self, offsets: Mapping[int, int]) -> None:
        """Read each partition of `offsets` from that offset next."""
        for p, offset in offsets.items():
            self.next[p] = offset
            self._consumer.seek(self._tps[p], offset)

    def done(self, targets: Mapping[int, int]) -> bool:
        """True once every partition has been read up to its target offset (inclusive)."""
        return all(self.next[p] > targets.get(p, -1) for p in self._tps)

    async def fetch(
        self, targets: Mapping[int, int], *, max_records: int, timeout_ms: int = 200
    ) -> list[tuple[int, list[Any]]]:
        """The next records of partitions below their target, none past it, in offset order
        per partition."""
        active = [tp for p, tp in self._tps.items() if self.next[p] <= targets.get(p, -1)]
        self._fetch_only(active)
        if not active:
            return []
        fetched = await self._consumer.getmany(
            *active, timeout_ms=timeout_ms, max_records=max_records
        )
        out = []
        for tp, records in fetched.items():
            target = targets.get(tp.partition, -1)
            keep = [r for r in records if r.offset <= target]
            if len(keep) < len(records):
                self._consumer.seek(tp, target + 1)  # the rest is read in a later round
            if keep:
                self.next[tp.partition] = keep[-1].offset + 1
                out.append((tp.partition, keep))
        self._fetch_only([tp for tp in active if self.next[tp.partition] <= targets[tp.partition]])
        return out


async def topic_partitions(settings: Settings, topic: str) -> list[int]:
    """The partition numbers of `topic` ([] if it does not exist)."""
    consumer = AIOKafkaConsumer(**plain_consumer_options(settings))
    await consumer.start()
    try:
        for _ in range(20):
            await consumer.topics()
            parts = consumer.partitions_for_topic(topic)
            if parts:
                return sorted(parts)
            await asyncio.sleep(0.1)
        return []
    finally:
        await consumer.stop()
