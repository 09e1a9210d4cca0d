"""The search projector's part of the projector service, when Elasticsearch is configured."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from elasticsearch import AsyncElasticsearch

from projections.search.es_backend import ensure_indices, make_client
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
    events = SearchProjector(settings, pool, client, index)
    lines = SearchLogProjector(settings, pool, client, index)
    log.info(
        "search projector started", extra={"index": index, "checkpoints": [events.name, lines.name]}
    )
    return SearchLoops(client, [events.run, lines.run])
