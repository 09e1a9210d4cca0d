"""The live workers, from their heartbeats: each queue's capacity for dispatch pacing, and
the defaults of every task type a worker has announced (these never expire: a type's
defaults stay known while no worker of it runs; the latest announcement wins)."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from taskstream.codec import decode_dict
from taskstream.domain.defaults import clean_type_defaults
from taskstream.domain.errors import DecodeError
from taskstream.kafka import background_consumer_options
from taskstream.settings import Settings

log = logging.getLogger(__name__)


@dataclass(slots=True)
class WorkerSeen:
    """The last heartbeat of one worker."""

    queues: tuple[str, ...]
    concurrency: int
    seen_at: float
    up: bool


class WorkerDirectory:
    """Follows the workers topic; a worker is live while its heartbeats keep coming."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._workers: dict[str, WorkerSeen] = {}
        self._ttl = settings.worker_heartbeat_seconds * 3 + 1.0
        self._task: asyncio.Task[None] | None = None
        self.type_defaults: dict[str, dict[str, Any]] = {}
        # Set once the topic is read up to its high watermark (a unit test: at once).
        self.caught_up = asyncio.Event()
        self.caught_up.set()

    def capacity(self, queue: str, now: float | None = None) -> int | None:
        """Sum of live workers' concurrency on `queue`; None when none is live."""
        now = time.time() if now is None else now
        live = [
            w.concurrency
            for w in self._workers.values()
            if w.up and queue in w.queues and now - w.seen_at <= self._ttl
        ]
        return sum(live) if live else None

    def observe(self, record: dict[str, object], now: float) -> None:
        """Take one heartbeat record into account."""
        worker = str(record.get("worker", ""))
        queues = record.get("queues") or []
        concurrency = record.get("concurrency", 0)
        if not worker or not isinstance(queues, list) or not isinstance(concurrency, int):
            return
        up = record.get("state", "up") == "up"
        self._workers[worker] = WorkerSeen(tuple(str(q) for q in queues), concurrency, now, up)
        types = record.get("types")
        if isinstance(types, dict):
            for name, announced in types.items():
                cleaned = clean_type_defaults(announced)
                if isinstance(name, str) and cleaned:
                    self.type_defaults[name] = cleaned

    def start(self) -> None:
        """Follow the topic in the background."""
        self.caught_up.clear()
        self._task = asyncio.create_task(self._follow(), name="worker-directory")

    async def stop(self) -> None:
        """Stop following."""
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _follow(self) -> None:
        topic = self._settings.topic("workers")
        while True:
            consumer = AIOKafkaConsumer(**background_consumer_options(self._settings))
            try:
                await consumer.start()
                await consumer.topics()  # loads the cluster metadata
                partitions = consumer.partitions_for_topic(topic) or set()
                tps = [TopicPartition(topic, p) for p in partitions]
                consumer.assign(tps)
                behind = set(tps)
                while True:
                    batches = await consumer.getmany(timeout_ms=1000)
                    for records in batches.values():
                        for record in records:
                            # The broker's timestamp, so replayed old heartbeats look old.
                            try:
                                self.observe(decode_dict(record.value), record.timestamp / 1000)
                            except DecodeError:
                                continue
                    for tp in list(behind):
                        high = consumer.highwater(tp)  # from a Fetch, never ListOffsets
                        if high is not None and await consumer.position(tp) >= high:
                            behind.discard(tp)
                    if not behind:
                        self.caught_up.set()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("worker directory failed; following again")
                await asyncio.sleep(1.0)
            finally:
                await consumer.stop()
