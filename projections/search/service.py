"""The search projector's part of the projector service, when Elasticsearch is configured."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from elasticsearch import AsyncElasticsearch

from projections.consumer import CheckpointedConsumer
from projections.search.es_backend import ensure_indices, make_client
from projections.search.es_bulk import SearchIndexError
from projections.search.es_index import checkpoint_names
from projections.search.es_projector import SearchLogProjector, SearchProjector
from taskstream.settings import Settings

log = logging.getLogger(__name__)
# One INFO line per request (every bulk) would drown the service's own log.
logging.getLogger("elastic_transport.transport").setLevel(logging.WARNING)

Loop = Callable[[Any], Coroutine[Any, Any, None]]


@dataclass
class SearchLoops:
    """The consumer loops feeding Elasticsearch, and the client to close after them."""

    client: AsyncElasticsearch
    loops: list[Loop] = field(default_factory=list)

    async def close(self) -> None:
        """Close the client."""
        await self.client.close()


async def open_search_loops(settings: Settings, pool: asyncpg.Pool) -> SearchLoops | None:
    """The search projector's loops (None when `TASKSTREAM_ELASTICSEARCH_URL` is unset)."""
    if not settings.elasticsearch_url:
        return None
    client = make_client(settings.elasticsearch_url, timeout=settings.elasticsearch_timeout_seconds)
    try:
        index = await ensure_indices(
            client,
            settings.elasticsearch_index_prefix,
            shards=settings.elasticsearch_shards,
            replicas=settings.elasticsearch_replicas,
        )
    except BaseException:
        await client.close()
        raise

    def guarded(make: Callable[[], CheckpointedConsumer[Any, Any]]) -> Loop:
        async def loop(stop: asyncio.Event) -> None:
            await run_guarded(make, stop)

        return loop

    log.info(
        "search projector started", extra={"index": index, "checkpoints": checkpoint_names(index)}
    )
    return SearchLoops(
        client,
        [
            guarded(lambda: SearchProjector(settings, pool, client, index)),
            guarded(lambda: SearchLogProjector(settings, pool, client, index)),
        ],
    )


async def run_guarded(
    make: Callable[[], CheckpointedConsumer[Any, Any]],
    stop: asyncio.Event,
    *,
    first_delay: float = 5.0,
    max_delay: float = 300.0,
) -> None:
    """Run a fresh consumer from `make` until `stop`; after a `SearchIndexError` (a
    document Elasticsearch refuses) log it and start again from the checkpoint after a
    growing delay, so the Postgres projection in the same process goes on."""
    delay = first_delay
    while not stop.is_set():
        consumer = make()
        try:
            await consumer.run(stop)
            return
        except SearchIndexError as exc:
            log.error(
                "search projector stopped: elasticsearch refuses a document; retrying",
                extra={"checkpoint": consumer.name, "error": str(exc), "retry_in": delay},
            )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)
        delay = min(delay * 2, max_delay)
