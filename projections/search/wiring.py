"""The search backend the API uses: Elasticsearch when its URL is set, else Postgres."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from projections.search.backend import SearchBackend
from projections.search.pg import PostgresSearch
from taskstream.settings import Settings

log = logging.getLogger(__name__)
# One INFO line per request (every bulk) would drown the service's own log.
logging.getLogger("elastic_transport.transport").setLevel(logging.WARNING)


@asynccontextmanager
async def open_search(settings: Settings, pool: asyncpg.Pool) -> AsyncIterator[SearchBackend]:
    """The configured backend; an Elasticsearch client is closed on exit."""
    if not settings.elasticsearch_url:
        yield PostgresSearch(pool)
        return
    from projections.search.es_backend import ElasticsearchSearch, make_client

    client = make_client(settings.elasticsearch_url, timeout=settings.elasticsearch_timeout_seconds)
    log.info("search on elasticsearch", extra={"prefix": settings.elasticsearch_index_prefix})
    try:
        yield ElasticsearchSearch(client, settings.elasticsearch_index_prefix)
    finally:
        await client.close()
