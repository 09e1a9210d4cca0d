"""A consumer-group member that applies a topic to Postgres under its own checkpoints.

Positions come from the Postgres checkpoints, not from Kafka: on assignment each
partition is sought to its checkpoint + 1, and every batch is applied with its new
checkpoints in one transaction. Decoding the next batch overlaps the current batch's
transaction. Offsets are also committed to Kafka after each batch, for observability.
A subclass says how to decode one record, apply a batch, and observe what it did.
Records Postgres refuses go to the dead-letter topic and the rest of their batch is
applied (`projections/refusals.py`).
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import asyncpg
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError

from projections import metrics as m
from projections.postgres import load_checkpoints
from projections.refusals import Placed, TooManyRefused, apply_isolating
from taskstream.codec import encode_dict
from taskstream.domain.errors import DecodeError
from taskstream.kafka import group_consumer_options
from taskstream.producer import build_producer
from taskstream.settings import Settings

log = logging.getLogger(__name__)

RETRYABLE = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)


ItemT = TypeVar("ItemT", bound=Placed)
ResultT = TypeVar("ResultT")


@dataclass(slots=True)
class Prepared(Generic[ItemT]):
    """A fetched batch, decoded: items to apply and the offsets it covers."""

    items: list[ItemT] = field(default_factory=list)
    checkpoints: dict[int, int] = field(default_factory=dict)
    deadletters: list[asyncio.Future[Any]] = field(default_factory=list)
    fetched: dict[TopicPartition, list[Any]] = field(default_factory=dict)  # raw records


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, owner: CheckpointedConsumer[Any, Any]) -> None:
        self._owner = owner

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._owner.settle()

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        await self._owner.seek_to_checkpoints(assigned)


class CheckpointedConsumer(ABC, Generic[ItemT, ResultT]):
    """Applies one topic to Postgres, batch by batch, until stopped."""

    def __init__(
        self,
        settings: Settings,
        pool: asyncpg.Pool,
        *,
        name: str,
        topic: str,
        group: str,
        fetch_wait_ms: int | None = None,
    ) -> None:
        self.settings = settings
        self.pool = pool
        self.name = name
        self.topic = topic
        options = group_consumer_options(settings, group)
        options["max_partition_fetch_bytes"] = 4 * 1024 * 1024
        if fetch_wait_ms is not None:
            options["fetch_max_wait_ms"] = fetch_wait_ms
        self.consumer = AIOKafkaConsumer(**options)
        self.producer = build_producer(settings)
        self._pending: asyncio.Task[None] | None = None
        self._stopping = False

    @abstractmethod
    def decode(self, raw: bytes | None, partition: int, offset: int) -> ItemT:
        """One record as an item (raises `DecodeError`)."""

    @abstractmethod
    async def apply(self, items: list[ItemT], checkpoints: dict[int, int]) -> ResultT:
        """Apply `items` with `checkpoints` in one transaction."""

    @abstractmethod
    def observe(self, items: list[ItemT], applied: ResultT) -> None:
        """Count what an applied batch did."""

    def assigned(self, partitions: set[TopicPartition]) -> None:
        """Called on each assignment (for gauges); does nothing by default."""

    async def run(self, stop: asyncio.Event) -> None:
        """Consume and apply batches until `stop` is set; the last batch is finished."""
        await self.producer.start()
        try:
            await self.consumer.start()
            self.consumer.subscribe([self.topic], listener=_Listener(self))
            wait_ms = max(self.settings.projector_batch_wait_ms, 10)
            while not stop.is_set():
                fetched = await self.consumer.getmany(
                    timeout_ms=wait_ms, max_records=self.settings.projector_batch_size
                )
                if not fetched:
                    continue
                prepared = self._prepare(fetched)
                await self.drain()
                self._pending = asyncio.create_task(self._apply(prepared, stop))
            self._stopping = True
            await self.drain()
        finally:
            await self.consumer.stop()
            await self.producer.stop()
            self.assigned(set())

    async def drain(self) -> None:
        """Wait for the batch being applied, if any (its errors propagate)."""
        pending, self._pending = self._pending, None
        if pending is not None:
            await pending

    async def settle(self) -> None:
        """Wait for the batch being applied, if any, leaving its errors to `drain`."""
        if self._pending is not None:
            await asyncio.wait({self._pending})

    async def seek_to_checkpoints(self, assigned: set[TopicPartition]) -> None:
        """Position each assigned partition just after its checkpoint (or at its start).

        The partitions are paused meanwhile: the fetcher starts at Kafka's committed
        offset as soon as they are assigned, and nothing may be handed out before the
        seek (undecodable records would go to the dead-letter topic twice).
        """
        self.assigned(assigned)
        if not assigned:
            return
        self.consumer.pause(*assigned)
        try:
            saved = await self._checkpoints([tp.partition for tp in assigned])
            fresh = []
            for tp in sorted(assigned):
                if tp.partition in saved:
                    self.consumer.seek(tp, saved[tp.partition] + 1)
                else:
                    fresh.append(tp)
            if fresh:
                await self.consumer.seek_to_beginning(*fresh)
        finally:
            self.consumer.resume(*assigned)
        log.info(
            "partitions assigned",
            extra={
                "topic": self.topic,
                "partitions": sorted(tp.partition for tp in assigned),
                "checkpoints": saved,
            },
        )

    async def _checkpoints(self, partitions: list[int]) -> dict[int, int]:
        # A listener that raises is only logged by aiokafka, so retry here until Postgres
        # answers: without checkpoints there is nothing this member can apply anyway.
        delay = 0.1
        while True:
            try:
                return await load_checkpoints(self.pool, self.name, partitions)
            except RETRYABLE as exc:
                log.warning(
                    "cannot read checkpoints, retrying",
                    extra={"error": repr(exc), "retry_in": delay},
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    def _prepare(self, fetched: dict[TopicPartition, list[Any]]) -> Prepared[ItemT]:
        out: Prepared[ItemT] = Prepared(fetched=fetched)
        for tp, records in fetched.items():
            for record in records:
                out.checkpoints[tp.partition] = record.offset
                try:
                    item = self.decode(record.value, tp.partition, record.offset)
                except DecodeError as exc:
                    out.deadletters.append(self._deadletter(tp, record, exc))
                    continue
                out.items.append(item)
        return out

    def _deadletter(
        self,
        tp: TopicPartition,
        record: Any,
        exc: BaseException,
        *,
        what: str = "undecodable record",
    ) -> asyncio.Future[Any]:
        log.error(
            what,
            extra={
                "topic": tp.topic,
                "partition": tp.partition,
                "offset": record.offset,
                "error": str(exc),
            },
        )
        (m.UNDECODABLE if isinstance(exc, DecodeError) else m.REFUSED).inc()
        doc = {
            "source_topic": tp.topic,
            "partition": tp.partition,
            "offset": record.offset,
            "error": str(exc),
            "value": (record.value or b"").decode("utf-8", "replace"),
        }
        # A future that resolves once the broker has the record; awaited before the
        # checkpoint moves past it.
        sent: asyncio.Future[Any] = asyncio.ensure_future(
            self.producer.send_and_wait(
                self.settings.topic("deadletter"), encode_dict(doc), key=record.key
            )
        )
        return sent

    async def _apply(self, prepared: Prepared[ItemT], stop: asyncio.Event) -> None:
        if prepared.deadletters:
            await asyncio.gather(*prepared.deadletters)
        # Records of a partition revoked since the fetch belong to its new owner now.
        owned = {tp.partition for tp in self.consumer.assignment()}
        items = [i for i in prepared.items if i.partition in owned]
        checkpoints = {p: o for p, o in prepared.checkpoints.items() if p in owned}
        if not checkpoints:
            return
        delay = 0.1

        async def set_aside(item: ItemT, exc: BaseException) -> None:
            tp = TopicPartition(self.topic, item.partition)
            record = next(r for r in prepared.fetched[tp] if r.offset == item.offset)
            await self._deadletter(tp, record, exc, what="record refused by Postgres")

        while True:
            try:
                done = await apply_isolating(
                    self.apply,
                    items,
                    checkpoints,
                    refused_max=self.settings.projector_refused_max,
                    on_refused=set_aside,
                )
                break
            except (*RETRYABLE, TooManyRefused) as exc:
                m.APPLY_FAILURES.inc()
                if self._stopping or stop.is_set():
                    # Nothing was committed; the next owner starts from the checkpoint.
                    log.error("batch not applied at shutdown", extra={"error": repr(exc)})
                    return
                log.warning(
                    "batch apply failed, retrying",
                    extra={"error": repr(exc), "retry_in": delay, "items": len(items)},
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
        for part, applied in done:
            self.observe(part, applied)
        await self._commit_kafka(checkpoints)

    async def _commit_kafka(self, checkpoints: dict[int, int]) -> None:
        offsets = {TopicPartition(self.topic, p): o + 1 for p, o in checkpoints.items()}
        try:
            # Bounded: a rebalance waits for this batch (see `settle`), and only
            # observability depends on these offsets.
            await asyncio.wait_for(self.consumer.commit(offsets), timeout=5.0)
        except (KafkaError, TimeoutError) as exc:
            log.debug("kafka offset commit failed", extra={"error": repr(exc)})
