"""`SearchBackend` on Elasticsearch (`TASKSTREAM_ELASTICSEARCH_URL`), and its setup.

`ensure_indices` puts the index templates and, if the tasks alias names no index yet,
creates a first generation behind it. Searches read through the aliases, so a rebuild
that moves the tasks alias is seen by the next request.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from elasticsearch import AsyncElasticsearch, NotFoundError
from elasticsearch import ConnectionError as EsConnectionError

from projections.search import es_mappings as names
from projections.search import snippets
from projections.search.backend import (
    SearchHit,
    SearchPage,
    SearchQuery,
    SearchUnavailable,
    encode_cursor,
)
from projections.search.es_query import build_log_search, build_task_search

log = logging.getLogger(__name__)


def make_client(url: str, *, timeout: float) -> AsyncElasticsearch:
    """The async client of `url` (credentials, if any, in the URL)."""
    return AsyncElasticsearch(url, request_timeout=timeout, retry_on_timeout=True, max_retries=2)


async def put_templates(
    client: AsyncElasticsearch, prefix: str, *, shards: int, replicas: int
) -> None:
    """Create or update the index templates."""
    for name, body in names.templates(prefix, shards=shards, replicas=replicas).items():
        await client.indices.put_index_template(name=name, **body)


async def current_tasks_index(client: AsyncElasticsearch, prefix: str) -> str | None:
    """The physical index behind the tasks alias, or None."""
    try:
        found = await client.indices.get_alias(name=names.tasks_alias(prefix))
    except NotFoundError:
        return None
    indices = sorted(found.body)
    return indices[-1] if indices else None


async def ensure_indices(
    client: AsyncElasticsearch, prefix: str, *, shards: int, replicas: int
) -> str:
    """Templates in place and a tasks index behind the alias; returns that index."""
    await put_templates(client, prefix, shards=shards, replicas=replicas)
    index = await current_tasks_index(client, prefix)
    if index is not None:
        return index
    index = names.tasks_index(prefix, names.generation_of(datetime.now(UTC)))
    await client.indices.create(
        index=index, aliases={names.tasks_alias(prefix): {"is_write_index": True}}
    )
    log.info("search index created", extra={"index": index})
    return index


def _snippet(hit: dict[str, Any], fallback: str) -> str:
    fragments = [f for values in (hit.get("highlight") or {}).values() for f in values]
    return snippets.render(" … ".join(fragments) if fragments else fallback)


class ElasticsearchSearch:
    """Searches the tasks and logs aliases of `prefix`."""

    name = "elasticsearch"

    def __init__(self, client: AsyncElasticsearch, prefix: str) -> None:
        self._client = client
        self._prefix = prefix

    async def search(self, query: SearchQuery) -> SearchPage:
        """One page of hits, best first."""
        try:
            if query.kind == "logs":
                return await self._logs(query)
            return await self._tasks(query)
        except EsConnectionError as exc:
            raise SearchUnavailable(f"elasticsearch unreachable: {exc}") from exc

    async def _tasks(self, query: SearchQuery) -> SearchPage:
        body = build_task_search(query)
        resp = await self._client.search(index=names.tasks_alias(self._prefix), **body)
        raw = resp.body["hits"]["hits"]
        page = raw[: query.limit]
        hits = [
            SearchHit(
                kind="tasks",
                task_id=h["_source"]["task_id"],
                type=h["_source"]["type"],
                status=h["_source"]["status"],
                queue=h["_source"]["queue"],
                score=float(h["_score"] or 0.0),
                snippet=_snippet(h, h["_source"]["type"]),
                at=datetime.fromisoformat(h["_source"]["created_at"]),
            )
            for h in page
        ]
        cursor = None
        if len(raw) > query.limit:
            score, key = page[-1]["sort"]
            cursor = encode_cursor("tasks", float(score), key)
        return SearchPage(hits, cursor, self.name)

    async def _logs(self, query: SearchQuery) -> SearchPage:
        body = build_log_search(query)
        try:
            resp = await self._client.search(
                index=names.logs_alias(self._prefix), ignore_unavailable=True, **body
            )
        except NotFoundError:  # no line indexed yet: no daily index, no alias
            return SearchPage([], None, self.name)
        raw = resp.body["hits"]["hits"]
        page = raw[: query.limit]
        tasks = await self._task_fields({h["_source"]["task_id"] for h in page})
        hits = []
        for h in page:
            src = h["_source"]
            task = tasks.get(src["task_id"], {})
            hits.append(
                SearchHit(
                    kind="logs",
                    task_id=src["task_id"],
                    type=task.get("type", ""),
                    status=task.get("status", ""),
                    queue=task.get("queue", ""),
                    score=float(h["_score"] or 0.0),
                    snippet=_snippet(h, src["message"]),
                    at=datetime.fromisoformat(src["at"]),
                    attempt=src["attempt"],
                    seq=src["seq"],
                    level=src["level"],
                )
            )
        cursor = None
        if len(raw) > query.limit:
            score, *key = page[-1]["sort"]
            cursor = encode_cursor("logs", float(score), key)
        return SearchPage(hits, cursor, self.name)

    async def _task_fields(self, ids: set[str]) -> dict[str, dict[str, Any]]:
        if not ids:
            return {}
        resp = await self._client.mget(
            index=names.tasks_alias(self._prefix),
            ids=sorted(ids),
            source_includes=["type", "status", "queue", "tenant"],
        )
        return {d["_id"]: d["_source"] for d in resp.body["docs"] if d.get("found")}
