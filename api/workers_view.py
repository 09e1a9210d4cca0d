"""The workers the API shows: the last heartbeat of each, from the workers topic.

The API follows `taskstream.workers` itself, as the scheduler's `WorkerDirectory` does,
without a group and from the beginning: heartbeats are liveness, not history, so a
table in the read model would only add a hop and a write every heartbeat interval per
worker. The view is complete once every partition is read to the high watermark of a
Fetch response (never `end_offsets()`, which the embedded broker answers wrong).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from taskstream.codec import decode_dict
from taskstream.domain.errors import DecodeError
from taskstream.kafka import background_consumer_options
from taskstream.settings import Settings

log = logging.getLogger(__name__)


def heartbeat_timeout(settings: Settings) -> float:
    """Seconds without a heartbeat after which a worker counts as lapsed (as the scheduler)."""
    return settings.worker_heartbeat_seconds * 3 + 1.0


@dataclass(slots=True)
class Seen:
    """The last heartbeat of one worker and when it was sent (broker timestamp)."""

    record: dict[str, Any]
    at: float


def _moment(value: object) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def describe(seen: Seen, tenant: str, now: float, timeout: float) -> dict[str, Any]:
    """One worker as `GET /v1/workers` shows it to `tenant` (pure)."""
    r = seen.record
    reported = isinstance(r.get("attempts"), list)
    attempts = [
        {
            "task_id": str(a.get("task_id")),
            "attempt": int(a.get("attempt") or 0),
            "started_at": _moment(a.get("started_at")),
        }
        for a in (r.get("attempts") if reported else None) or []
        if isinstance(a, dict) and a.get("tenant", "default") == tenant and a.get("task_id")
    ]
    if r.get("state", "up") != "up":
        status = "down"
    elif now - seen.at > timeout:
        status = "lapsed"
    else:
        status = "up"
    pid = r.get("pid")
    return {
        "worker": str(r.get("worker")),
        "queues": [str(q) for q in r.get("queues") or []],
        "capacity": int(r.get("concurrency") or 0),
        "in_flight": int(r.get("running") or 0),
        "status": status,
        "host": r.get("host") if isinstance(r.get("host"), str) else None,
        "pid": pid if isinstance(pid, int) else None,
        "started_at": _moment(r.get("started_at")),
        "last_heartbeat": datetime.fromtimestamp(seen.at, UTC),
        "attempts": attempts,
        "attempts_reported": reported,
    }


@dataclass(slots=True)
class WorkerBook:
    """The last heartbeat per worker; workers silent for `forget` seconds are dropped."""

    forget: float
    seen: dict[str, Seen] = field(default_factory=dict)

    def observe(self, record: dict[str, Any], at: float) -> None:
        """Take one heartbeat (an older one than already seen is ignored)."""
        worker = record.get("worker")
        if not isinstance(worker, str) or not worker:
            return
        last = self.seen.get(worker)
        if last is None or last.at <= at:
            self.seen[worker] = Seen(record, at)

    def prune(self, now: float) -> None:
        """Forget workers silent for longer than `forget`."""
        for worker in [w for w, s in self.seen.items() if now - s.at > self.forget]:
            del self.seen[worker]

    def list(
        self, tenant: str, now: float, timeout: float, *, include_gone: bool
    ) -> list[dict[str, Any]]:
        """The workers (live ones unless `include_gone`), by id."""
        out = [describe(self.seen[w], tenant, now, timeout) for w in sorted(self.seen)]
        return out if include_gone else [w for w in out if w["status"] == "up"]


class WorkersView:
    """Follows the workers topic in the background; answers `GET /v1/workers`."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self.timeout_seconds = heartbeat_timeout(settings)
        self.book = WorkerBook(settings.workers_forget_seconds)
        self._caught_up = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start following."""
        self._task = asyncio.create_task(self._follow(), name="workers-view")

    async def stop(self) -> None:
        """Stop following."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def workers(self, tenant: str, *, include_gone: bool) -> list[dict[str, Any]]:
        """The workers; raises `TimeoutError` while the topic is not read to its end yet."""
        if not self._caught_up.is_set():
            async with asyncio.timeout(self._settings.workers_warmup_seconds):
                await self._caught_up.wait()
        now = time.time()
        self.book.prune(now)
        return self.book.list(tenant, now, self.timeout_seconds, include_gone=include_gone)

    async def _follow(self) -> None:
        topic = self._settings.topic("workers")
        while True:
            consumer = AIOKafkaConsumer(**background_consumer_options(self._settings))
            try:
                await consumer.start()
                await consumer.topics()  # loads the cluster metadata
                tps = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
                consumer.assign(tps)
                await consumer.seek_to_beginning(*tps)
                while True:
                    batches = await consumer.getmany(timeout_ms=1000)
                    for records in batches.values():
                        for record in records:
                            try:
                                doc = decode_dict(record.value)
                            except DecodeError:
                                continue
                            self.book.observe(doc, record.timestamp / 1000)
                    if not self._caught_up.is_set() and await _at_end(consumer, tps):
                        self._caught_up.set()
                        log.info("workers view caught up", extra={"workers": len(self.book.seen)})
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("workers view failed; following again")
                await asyncio.sleep(1.0)
            finally:
                await consumer.stop()


async def _at_end(consumer: AIOKafkaConsumer, tps: list[TopicPartition]) -> bool:
    for tp in tps:
        high = consumer.highwater(tp)
        if high is None or await consumer.position(tp) < high:
            return False
    return True
