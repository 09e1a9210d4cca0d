"""The search projector: events and logs topics into Elasticsearch, under their own checkpoints.

Both consumers run `CheckpointedConsumer`'s loop in consumer groups of their own, named
after the index prefix (two deployments sharing a Kafka never split each other's work). Their
checkpoints are Postgres rows (`projection_checkpoints`) named after the physical tasks
index they feed (`search:<index>`, `search-logs:<index>`), saved only after Elasticsearch
acknowledged the batch. So a crash between the two replays the batch, which changes
nothing (external versions, log lines by id); a fresh index — a rebuild, or an
Elasticsearch that lost its data and got a new generation — starts from offset 0
instead of trusting positions that described another index.
"""

from __future__ import annotations

import asyncpg

from projections.consumer import CheckpointedConsumer
from projections.logs import PositionedLine, decode_line
from projections.postgres import Positioned
from projections.search import es_mappings as names
from projections.search.es_bulk import BulkResult
from projections.search.es_index import (
    checkpoint_names,
    index_events,
    index_lines,
    save_checkpoints,
    task_fields,
)
from taskstream.codec import decode as decode_envelope
from taskstream.settings import Settings


class SearchProjector(CheckpointedConsumer[Positioned, BulkResult]):
    """Folds the events topic into task documents behind the tasks alias."""

    def __init__(self, settings: Settings, pool: asyncpg.Pool, client: object, index: str) -> None:
        super().__init__(
            settings,
            pool,
            name=checkpoint_names(index)[0],
            topic=settings.topic("events"),
            group=f"{settings.topic_prefix}.projector.search.{settings.elasticsearch_index_prefix}",
        )
        self.client = client
        self.alias = names.tasks_alias(settings.elasticsearch_index_prefix)
        self.indexed = 0

    def decode(self, raw: bytes | None, partition: int, offset: int) -> Positioned:
        """One event record, with where it was read."""
        return Positioned(decode_envelope(raw), partition, offset)

    async def apply(self, items: list[Positioned], checkpoints: dict[int, int]) -> BulkResult:
        """Index the batch, then save its checkpoints."""
        result = await index_events(
            self.client,
            self.alias,
            [i.event for i in items],
            max_chars=self.settings.search_max_text_chars,
            retries=self.settings.elasticsearch_bulk_retries,
        )
        await save_checkpoints(self.pool, self.name, checkpoints)
        return result

    def observe(self, items: list[Positioned], applied: BulkResult) -> None:
        """Count the documents written."""
        self.indexed += applied.written


class SearchLogProjector(CheckpointedConsumer[PositionedLine, BulkResult]):
    """Appends the logs topic to the daily logs indices."""

    def __init__(self, settings: Settings, pool: asyncpg.Pool, client: object, index: str) -> None:
        super().__init__(
            settings,
            pool,
            name=checkpoint_names(index)[1],
            topic=settings.topic("logs"),
            group=f"{settings.topic_prefix}.projector.search-logs.{settings.elasticsearch_index_prefix}",
        )
        self.client = client
        self.indexed = 0

    def decode(self, raw: bytes | None, partition: int, offset: int) -> PositionedLine:
        """One log record, with where it was read."""
        return PositionedLine(decode_line(raw), partition, offset)

    async def apply(self, items: list[PositionedLine], checkpoints: dict[int, int]) -> BulkResult:
        """Index the lines, then save the checkpoints."""
        lines = [i.line for i in items]
        fields = await task_fields(self.pool, sorted({ln.task_id for ln in lines}))
        result = await index_lines(
            self.client,
            self.settings.elasticsearch_index_prefix,
            lines,
            fields,
            retries=self.settings.elasticsearch_bulk_retries,
        )
        await save_checkpoints(self.pool, self.name, checkpoints)
        return result

    def observe(self, items: list[PositionedLine], applied: BulkResult) -> None:
        """Count the lines written."""
        self.indexed += applied.written
