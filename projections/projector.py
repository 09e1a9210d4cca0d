"""The projector: applies the events topic to the tasks read model.

The consumer loop, checkpoints and dead-lettering are `CheckpointedConsumer`'s; this
module decodes events and applies them with `postgres.apply_batch` (archive, task rows,
attempts and checkpoints in one transaction).
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from datetime import UTC, datetime

import asyncpg
from aiokafka import TopicPartition

from projections import metrics as m
from projections.consumer import CheckpointedConsumer
from projections.counter_writer import CounterWriter
from projections.fold import FoldError
from projections.postgres import Applied, Positioned, apply_batch
from taskstream.codec import decode
from taskstream.settings import Settings

log = logging.getLogger(__name__)


class Projector(CheckpointedConsumer[Positioned, Applied]):
    """Applies `settings.topic("events")` to the tasks read model until stopped."""

    def __init__(
        self,
        settings: Settings,
        pool: asyncpg.Pool,
        *,
        name: str = "tasks",
        counters: CounterWriter | None = None,
    ) -> None:
        super().__init__(
            settings,
            pool,
            name=name,
            topic=settings.topic("events"),
            group=f"{settings.topic_prefix}.projector",
            fetch_wait_ms=settings.fetch_observer_wait_ms,
        )
        self.applied_events = 0
        self.counters = counters

    def decode(self, raw: bytes | None, partition: int, offset: int) -> Positioned:
        """One event record, with where it was read."""
        return Positioned(decode(raw), partition, offset)

    async def apply(self, items: list[Positioned], checkpoints: dict[int, int]) -> Applied:
        """Archive, fold and checkpoint one batch; then hand its counter change to Redis."""
        applied = await apply_batch(
            self.pool,
            self.name,
            items,
            checkpoints,
            search_max_chars=self.settings.search_max_text_chars,
        )
        if self.counters is not None:
            self.counters.submit(applied.queues.counters)
        return applied

    def assigned(self, partitions: set[TopicPartition]) -> None:
        """Gauges of the partitions owned now."""
        m.PARTITIONS.set(len(partitions))
        m.LAG_SECONDS.clear()  # partitions owned before are another member's to report

    def observe(self, items: list[Positioned], applied: Applied) -> None:
        """Metrics of one applied batch, and its fold errors in the log."""
        self.applied_events += applied.events
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
