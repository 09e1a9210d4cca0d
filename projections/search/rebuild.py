"""`rebuild_search`: the Elasticsearch read model again from offset 0, switched in atomically.

1. A fresh tasks index (a new generation) is filled from the whole events topic, read
   up to the high watermarks of Fetch responses (never `end_offsets()`), while the old
   index behind the alias keeps answering searches.
2. Log lines are re-appended to their daily indices (by id: lines already there stay).
3. One `_aliases` call moves the tasks alias to the new index.
4. A catch-up pass indexes what arrived since step 1 read its high watermarks: the live
   projector may have written those events into the old index just before the switch.
   Duplicates lose on the external version.
5. The positions reached become the checkpoints of the new index, so a restarted live
   projector continues from there (see `es_projector`).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition

from projections.logs import decode_line
from projections.search import es_mappings as names
from projections.search.es_backend import current_tasks_index, make_client, put_templates
from projections.search.es_index import (
    checkpoint_names,
    index_events,
    index_lines,
    save_checkpoints,
    task_fields,
)
from taskstream.codec import decode as decode_envelope
from taskstream.domain.errors import DecodeError
from taskstream.kafka import plain_consumer_options
from taskstream.logread import partition_count
from taskstream.settings import Settings

log = logging.getLogger(__name__)

Progress = Callable[[str, int], None]


@dataclass(frozen=True, slots=True)
class SearchRebuilt:
    """What a rebuild did."""

    index: str
    previous: str | None
    events: int
    lines: int
    seconds: float
    checkpoints: dict[str, dict[int, int]]


async def read_from(
    settings: Settings, topic: str, start: dict[int, int], *, batch: int = 5000
) -> AsyncIterator[tuple[int, list[Any]]]:
    """(partition, records) from offset `start[p]` of each partition up to its high watermark."""
    consumer = AIOKafkaConsumer(
        **plain_consumer_options(settings), max_partition_fetch_bytes=8 << 20
    )
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in sorted(start)]
        consumer.assign(tps)
        for tp in tps:
            consumer.seek(tp, start[tp.partition])
        left = set(tps)
        deadline = time.monotonic() + 30.0
        while left:
            fetched = await consumer.getmany(*left, timeout_ms=200, max_records=batch)
            for tp, records in fetched.items():
                if records:
                    yield tp.partition, records
            for tp in list(left):
                high = consumer.highwater(tp)
                if high is not None and await consumer.position(tp) >= high:
                    left.discard(tp)
            silent = all(consumer.highwater(tp) is None for tp in left)
            if left and silent and time.monotonic() > deadline:
                raise TimeoutError(f"no fetch response from {topic} in 30 s")
    finally:
        await consumer.stop()


async def _replay_events(
    settings: Settings, client: Any, index: str, start: dict[int, int], progress: Progress | None
) -> tuple[int, dict[int, int]]:
    reached = {p: o - 1 for p, o in start.items()}
    count = 0
    async for partition, records in read_from(settings, settings.topic("events"), start):
        events = []
        for record in records:
            # An undecodable record is the live projectors' to dead-letter; nothing to index.
            with contextlib.suppress(DecodeError):
                events.append(decode_envelope(record.value))
        await index_events(
            client,
            index,
            events,
            max_chars=settings.search_max_text_chars,
            retries=settings.elasticsearch_bulk_retries,
        )
        reached[partition] = records[-1].offset
        count += len(records)
        if progress:
            progress("events", count)
    return count, reached


async def _replay_lines(
    settings: Settings, client: Any, pool: asyncpg.Pool | None, start: dict[int, int],
    progress: Progress | None,
) -> tuple[int, dict[int, int]]:  # fmt: skip
    reached = {p: o - 1 for p, o in start.items()}
    count = 0
    async for partition, records in read_from(settings, settings.topic("logs"), start):
        lines = []
        for record in records:
            with contextlib.suppress(DecodeError):
                lines.append(decode_line(record.value))
        fields = await task_fields(pool, sorted({ln.task_id for ln in lines}))
        await index_lines(
            client,
            settings.elasticsearch_index_prefix,
            lines,
            fields,
            retries=settings.elasticsearch_bulk_retries,
        )
        reached[partition] = records[-1].offset
        count += len(records)
        if progress:
            progress("logs", count)
    return count, reached


async def rebuild_search(
    settings: Settings,
    *,
    pool: asyncpg.Pool | None = None,
    client: Any | None = None,
    progress: Progress | None = None,
    delete_previous: bool = False,
) -> SearchRebuilt:
    """Rebuild the Elasticsearch indices from offset 0 and switch the tasks alias to them.

    `pool` (the read model) supplies log lines' queue and type and stores the new
    checkpoints; `progress(phase, records_so_far)` is called after each batch.
    """
    if not settings.elasticsearch_url and client is None:
        raise ValueError("TASKSTREAM_ELASTICSEARCH_URL is not set: nothing to rebuild")
    started = time.perf_counter()
    own = client is None
    es = client or make_client(
        settings.elasticsearch_url, timeout=settings.elasticsearch_timeout_seconds
    )
    prefix = settings.elasticsearch_index_prefix
    try:
        await put_templates(
            es,
            prefix,
            shards=settings.elasticsearch_shards,
            replicas=settings.elasticsearch_replicas,
        )
        previous = await current_tasks_index(es, prefix)
        index = names.tasks_index(prefix, names.generation_of(datetime.now(UTC)))
        await es.indices.create(index=index)
        parts = {t: await partition_count(settings, settings.topic(t)) for t in ("events", "logs")}
        zero = {t: dict.fromkeys(range(n), 0) for t, n in parts.items()}
        events, reached = await _replay_events(settings, es, index, zero["events"], progress)
        lines, lines_reached = await _replay_lines(settings, es, pool, zero["logs"], progress)
        alias = names.tasks_alias(prefix)
        actions: list[dict[str, Any]] = []
        if previous is not None:
            actions.append({"remove": {"index": previous, "alias": alias}})
        actions.append({"add": {"index": index, "alias": alias, "is_write_index": True}})
        await es.indices.update_aliases(actions=actions)
        log.info(
            "search alias switched", extra={"alias": alias, "index": index, "previous": previous}
        )
        more, reached = await _replay_events(
            settings, es, index, {p: o + 1 for p, o in reached.items()}, progress
        )
        events += more
        await es.indices.refresh(index=[index, names.logs_alias(prefix)], ignore_unavailable=True)
        names_ = checkpoint_names(index)
        done = {
            names_[0]: {p: o for p, o in reached.items() if o >= 0},
            names_[1]: {p: o for p, o in lines_reached.items() if o >= 0},
        }
        if pool is not None:
            for name, checkpoints in done.items():
                await save_checkpoints(pool, name, checkpoints)
        if delete_previous and previous is not None:
            await es.indices.delete(index=previous)
        return SearchRebuilt(index, previous, events, lines, time.perf_counter() - started, done)
    finally:
        if own:
            await es.close()
