"""The projector: a consumer-group member that applies the events topic to Postgres.

Positions come from the Postgres checkpoints, not from Kafka: on assignment each
partition is sought to its checkpoint + 1, and every batch is applied with its new
checkpoints in one transaction. Decoding the next batch overlaps the current batch's
transaction. Offsets are also committed to Kafka after each batch, for observability.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError
from pydantic import ValidationError

from projections import metrics as m
from projections.fold import FoldError
from projections.postgres import Applied, Positioned, apply_batch, load_checkpoints
from taskstream.codec import decode, encode_dict
from taskstream.domain.envelope import Envelope
from taskstream.domain.errors import DecodeError
from taskstream.domain.events import CURRENT_SCHEMA_VERSION
from taskstream.kafka import group_consumer_options
from taskstream.producer import build_producer
from taskstream.settings import Settings

log = logging.getLogger(__name__)

_RETRYABLE = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)


def decode_event(raw: bytes | None) -> Envelope:
    """`codec.decode`, with a fast path for records already at the current schema.

    Parsing and validating in one step (pydantic-core) is about twice as fast here as
    `orjson.loads` + upcast + `model_validate`, and decoding is most of the projector's
    CPU. Anything else (older schema, invalid) goes through `codec.decode` unchanged.
    """
    if raw is not None:
        try:
            event = Envelope.model_validate_json(raw)
        except ValidationError:
            pass
        else:
            if event.schema_version == CURRENT_SCHEMA_VERSION:
                return event
    return decode(raw)


@dataclass(slots=True)
class Prepared:
    """A fetched batch, decoded: events to apply and the offsets it covers."""

    items: list[Positioned] = field(default_factory=list)
    checkpoints: dict[int, int] = field(default_factory=dict)
    deadletters: list[asyncio.Future[Any]] = field(default_factory=list)


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, projector: Projector) -> None:
        self._projector = projector

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._projector.settle()

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        await self._projector.seek_to_checkpoints(assigned)


class Projector:
    """Applies `settings.topic("events")` to the tasks read model until stopped."""

    def __init__(self, settings: Settings, pool: asyncpg.Pool, *, name: str = "tasks") -> None:
        self.settings = settings
        self.pool = pool
        self.name = name
        self.topic = settings.topic("events")
        options = group_consumer_options(settings, f"{settings.topic_prefix}.projector")
        options["max_partition_fetch_bytes"] = 4 * 1024 * 1024
        self.consumer = AIOKafkaConsumer(**options)
        self.producer = build_producer(settings)
        self._pending: asyncio.Task[None] | None = None
        self._stopping = False
        self.applied_events = 0

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
            m.PARTITIONS.set(0)

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
        m.PARTITIONS.set(len(assigned))
        m.LAG_SECONDS.clear()  # partitions owned before are another member's to report
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
            extra={"partitions": sorted(tp.partition for tp in assigned), "checkpoints": saved},
        )

    async def _checkpoints(self, partitions: list[int]) -> dict[int, int]:
        # A listener that raises is only logged by aiokafka, so retry here until Postgres
        # answers: without checkpoints there is nothing this member can apply anyway.
        delay = 0.1
        while True:
            try:
                return await load_checkpoints(self.pool, self.name, partitions)
            except _RETRYABLE as exc:
                log.warning(
                    "cannot read checkpoints, retrying",
                    extra={"error": repr(exc), "retry_in": delay},
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    def _prepare(self, fetched: dict[TopicPartition, list[Any]]) -> Prepared:
        out = Prepared()
        for tp, records in fetched.items():
            for record in records:
                out.checkpoints[tp.partition] = record.offset
                try:
                    event = decode_event(record.value)
                except DecodeError as exc:
                    out.deadletters.append(self._deadletter(tp, record, exc))
                    continue
                out.items.append(Positioned(event, tp.partition, record.offset))
        return out

    def _deadletter(self, tp: TopicPartition, record: Any, exc: DecodeError) -> asyncio.Future[Any]:
        log.error(
            "undecodable event record",
            extra={"partition": tp.partition, "offset": record.offset, "error": str(exc)},
        )
        m.UNDECODABLE.inc()
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

    async def _apply(self, prepared: Prepared, stop: asyncio.Event) -> None:
        if prepared.deadletters:
            await asyncio.gather(*prepared.deadletters)
        # Records of a partition revoked since the fetch belong to its new owner now.
        owned = {tp.partition for tp in self.consumer.assignment()}
        items = [i for i in prepared.items if i.partition in owned]
        checkpoints = {p: o for p, o in prepared.checkpoints.items() if p in owned}
        if not checkpoints:
            return
        applied = await self._apply_with_retry(items, checkpoints, stop)
        if applied is None:
            return
        self.applied_events += applied.events
        self._observe(items, applied)
        await self._commit_kafka(checkpoints)

    async def _apply_with_retry(
        self, items: list[Positioned], checkpoints: dict[int, int], stop: asyncio.Event
    ) -> Applied | None:
        delay = 0.1
        while True:
            try:
                return await apply_batch(self.pool, self.name, items, checkpoints)
            except _RETRYABLE as exc:
                m.APPLY_FAILURES.inc()
                if self._stopping or stop.is_set():
                    # Nothing was committed; the next owner starts from the checkpoint.
                    log.error("batch not applied at shutdown", extra={"error": repr(exc)})
                    return None
                log.warning(
                    "batch apply failed, retrying",
                    extra={"error": repr(exc), "retry_in": delay, "events": len(items)},
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    def _observe(self, items: list[Positioned], applied: Applied) -> None:
        m.BATCH_SIZE.observe(applied.events)
        m.BATCH_SECONDS.observe(applied.seconds)
        m.TASKS_UPDATED.inc(applied.tasks_updated)
        if applied.sanitized:
            m.SANITIZED.inc()
        for type_, count in Counter(i.event.type for i in items).items():
            m.EVENTS_APPLIED.labels(type_).inc(count)
        last: dict[int, datetime] = {}
        for item in items:
            last[item.partition] = item.event.occurred_at
        now = datetime.now(UTC)
        for partition, occurred in last.items():
            m.LAG_SECONDS.labels(str(partition)).set(max(0.0, (now - occurred).total_seconds()))
        if applied.fold.errors:
            _log_fold_errors(applied.fold.errors)

    async def _commit_kafka(self, checkpoints: dict[int, int]) -> None:
        offsets = {TopicPartition(self.topic, p): o + 1 for p, o in checkpoints.items()}
        try:
            # Bounded: a rebalance waits for this batch (see `settle`), and only
            # observability depends on these offsets.
            await asyncio.wait_for(self.consumer.commit(offsets), timeout=5.0)
        except (KafkaError, TimeoutError) as exc:
            log.debug("kafka offset commit failed", extra={"error": repr(exc)})


def _log_fold_errors(errors: list[FoldError]) -> None:
    m.FOLD_ERRORS.inc(len(errors))
    by_task: dict[str, list[FoldError]] = defaultdict(list)
    for err in errors:
        by_task[err.task_id].append(err)
    for task_id, errs in by_task.items():
        log.error(
            "events archived but not folded into the task",
            extra={
                "task_id": task_id,
                "stored_version": errs[0].stored_version,
                "versions": [x.version for x in errs],
                "error": errs[0].error,
            },
        )
