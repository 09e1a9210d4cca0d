"""Every queue's settings, for every scheduler process: the queues topic, followed from its start.

A queue aggregate lives on one partition, but its tasks live on all of them. So the
scheduler that decides a queue event also appends the queue's new settings (paused,
limit, version) to `taskstream.queues`, a single-partition topic every scheduler process
follows from offset 0 without a group. The record is appended in the same batch as the
event and awaited before the command's offset is committed; a rebuilt partition appends
the settings of each of its queues again, which covers a crash between the two appends.
A follower keeps the highest version per queue, so order and repeats do not matter.

Until a process has read the topic up to its high watermark (from a Fetch, never
ListOffsets) it dispatches nothing: a restarted scheduler must not dispatch a paused
queue's tasks because it has not yet read the pause.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from taskstream.codec import decode_dict
from taskstream.domain.errors import DecodeError
from taskstream.domain.queue_model import QueueSettings
from taskstream.kafka import background_consumer_options
from taskstream.settings import Settings

log = logging.getLogger(__name__)


async def ensure_queues_topic(settings: Settings) -> None:
    """Create the single-partition queues topic if it is missing."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        if settings.topic("queues") not in set(await admin.list_topics()):
            with contextlib.suppress(TopicAlreadyExistsError):
                # Compacted on Apache Kafka: the latest settings per queue outlive retention.
                topic = NewTopic(
                    settings.topic("queues"), 1, 1, topic_configs={"cleanup.policy": "compact"}
                )
                await admin.create_topics([topic])
    finally:
        await admin.close()


class QueueDirectory:
    """The settings of every (tenant, queue) that has any, from the queues topic."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._queues: dict[tuple[str, str], QueueSettings] = {}
        self._task: asyncio.Task[None] | None = None
        # Not following (a unit test): nothing to wait for.
        self.caught_up = True

    def get(self, tenant: str, queue: str) -> QueueSettings | None:
        """The settings of `tenant`'s `queue`, None when it never had any."""
        return self._queues.get((tenant, queue))

    def limited(self) -> list[QueueSettings]:
        """Queues with a concurrency limit."""
        return [s for s in self._queues.values() if s.limit is not None]

    def observe(self, record: dict[str, object]) -> bool:
        """Take one settings record into account; True if it was news."""
        tenant, queue, version = record.get("tenant"), record.get("queue"), record.get("version")
        limit, paused = record.get("limit"), record.get("paused")
        if not isinstance(tenant, str) or not isinstance(queue, str):
            return False
        if not isinstance(version, int) or not isinstance(paused, bool):
            return False
        if limit is not None and not isinstance(limit, int):
            return False
        known = self._queues.get((tenant, queue))
        if known is not None and known.version >= version:
            return False
        self._queues[(tenant, queue)] = QueueSettings(tenant, queue, paused, limit, version)
        return True

    def start(self) -> None:
        """Follow the topic in the background; dispatch waits until it has caught up."""
        self.caught_up = False
        self._task = asyncio.create_task(self._follow(), name="queue-directory")

    async def stop(self) -> None:
        """Stop following."""
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _follow(self) -> None:
        tp = TopicPartition(self._settings.topic("queues"), 0)
        while True:
            consumer = AIOKafkaConsumer(**background_consumer_options(self._settings))
            try:
                await consumer.start()
                consumer.assign([tp])
                await consumer.seek_to_beginning(tp)
                while True:
                    batches = await consumer.getmany(tp, timeout_ms=1000)
                    for record in batches.get(tp, []):
                        try:
                            self.observe(decode_dict(record.value))
                        except DecodeError:
                            log.error("undecodable queue settings", extra={"offset": record.offset})
                    highwater = consumer.highwater(tp)
                    if (
                        not self.caught_up
                        and highwater is not None
                        and await consumer.position(tp) >= highwater
                    ):
                        self.caught_up = True
                        log.info("queue settings caught up", extra={"queues": len(self._queues)})
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("queue directory failed; following again")
                await asyncio.sleep(1.0)
            finally:
                await consumer.stop()
