"""The Elasticsearch search backend end to end: needs a real server at TASKSTREAM_ELASTICSEARCH_URL.

No Elasticsearch runs on the development machines, so without the URL every test here
is skipped (and says why). Each test uses its own index prefix, so it never touches the
indices of a stack's own search projector.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from projections.fold import fold_batch, state_from_dict
from projections.logs import LogLine
from projections.search import es_mappings as names
from projections.search.backend import SearchQuery
from projections.search.documents import task_action
from projections.search.es_backend import ElasticsearchSearch, ensure_indices, make_client
from projections.search.es_bulk import SearchIndexError, send
from projections.search.es_index import index_events, index_lines
from projections.search.es_projector import SearchLogProjector, SearchProjector
from projections.search.rebuild import rebuild_search
from projections.synthetic import stream
from taskstream.settings import Settings
from tests.integration.helpers import eventually
from tests.integration.tail_clients import submit_direct

URL = os.environ.get("TASKSTREAM_ELASTICSEARCH_URL", "")
pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not URL,
        reason="needs a real Elasticsearch 8 server: set TASKSTREAM_ELASTICSEARCH_URL",
    ),
]


@pytest.fixture
async def es() -> AsyncIterator[Any]:
    client = make_client(URL, timeout=30)
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
async def prefix(es: Any) -> AsyncIterator[str]:
    name = f"tstest{uuid.uuid4().hex[:8]}"
    try:
        yield name
    finally:
        # By name: Elasticsearch 8 refuses wildcard deletes by default.
        found = await es.indices.get(index=f"{name}-*")
        for index in found.body:
            await es.indices.delete(index=index)
        for template in (f"{name}-tasks", f"{name}-logs"):
            await es.options(ignore_status=404).indices.delete_index_template(name=template)


async def test_templates_documents_versions_and_searches(es: Any, prefix: str) -> None:
    index = await ensure_indices(es, prefix, shards=1, replicas=0)
    assert index.startswith(f"{prefix}-tasks-")
    assert await ensure_indices(es, prefix, shards=1, replicas=0) == index  # idempotent
    template = await es.indices.get_index_template(name=f"{prefix}-tasks")
    mapping = template["index_templates"][0]["index_template"]["template"]["mappings"]
    assert mapping["properties"]["labels"]["type"] == "flattened"
    alias = names.tasks_alias(prefix)

    events = stream(40, seed=11, tenants=("default", "acme"))
    for i in range(0, len(events), 50):
        await index_events(es, alias, events[i : i + 50], max_chars=1000, retries=2)
    await es.indices.refresh(index=alias)
    final: dict[str, int] = {}
    tenants: dict[str, str] = {}
    for ev in events:
        if ev.type != "command.rejected":
            final[ev.task_id] = max(final.get(ev.task_id, 0), ev.version)
        tenants[ev.task_id] = ev.tenant
    assert (await es.count(index=alias))["count"] == len(final)
    some = sorted(final)[0]
    assert (await es.get(index=alias, id=some))["_version"] == final[some]

    # Replaying from the start: the fold skips what the documents already hold.
    result = await index_events(es, alias, events[:50], max_chars=1000, retries=2)
    assert (result.written, result.conflicts) == (0, 0)
    # An older version arriving late (another writer) loses on the external version.
    doc = (await es.get(index=alias, id=some))["_source"]
    stale = state_from_dict({**doc["state"], "version": final[some] - 1}, doc["fold"])
    result = await send(es, [task_action(alias, stale, max_chars=1000)], retries=0)
    assert (result.written, result.conflicts) == (0, 1)
    assert (await es.get(index=alias, id=some))["_version"] == final[some]

    # A document the strict mapping does not allow is refused with a clear message.
    bad = [({"index": {"_index": alias, "_id": "bad"}}, {"task_id": "bad", "surprise": 1})]
    with pytest.raises(SearchIndexError, match="strict"):
        await send(es, bad, retries=0)

    backend = ElasticsearchSearch(es, prefix)
    # "boom" is the error of the synthetic lives' failed attempts.
    folded = fold_batch({}, events).changed.values()
    failed = {
        s.id
        for s in folded
        if s.tenant == "acme" and any("boom" in (a.error or "") for a in s.attempts)
    }
    assert failed
    page = await backend.search(SearchQuery(q="boom", tenant="acme", limit=100))
    assert {h.task_id for h in page.hits} == failed
    assert any("<mark>boom</mark>" in h.snippet for h in page.hits)
    assert not await _ids(backend, SearchQuery(q="boom", tenant="nobody", limit=100))
    # Pages: each hit once.
    seen: list[str] = []
    query = SearchQuery(q="boom", tenant="acme", limit=2)
    while True:
        page = await backend.search(query)
        seen += [h.task_id for h in page.hits]
        if page.next_cursor is None:
            break
        query = SearchQuery(q="boom", tenant="acme", limit=2, cursor=page.next_cursor)
    assert sorted(seen) == sorted(
        await _ids(backend, SearchQuery(q="boom", tenant="acme", limit=100))
    )
    assert len(seen) == len(set(seen))

    # Log lines, in their daily index, found by text within the tenant.
    at = datetime(2026, 11, 27, 23, 59, tzinfo=UTC)
    lines = [
        LogLine(task_id=some, tenant=tenants[some], attempt=1, seq=1, at=at, level="info",
                message="platypus venom detected"),
        LogLine(task_id=some, tenant=tenants[some], attempt=1, seq=2, at=at + timedelta(minutes=2),
                message="numbat after midnight", level="info"),
    ]  # fmt: skip
    first = await index_lines(es, prefix, lines, {some: ("q1", "t1")}, retries=2)
    assert first.written == 2
    again = await index_lines(es, prefix, lines, {}, retries=2)
    assert (again.written, again.conflicts) == (0, 2)
    await es.indices.refresh(index=names.logs_alias(prefix))
    assert await es.indices.exists(index=f"{prefix}-logs-2026.11.27")
    assert await es.indices.exists(index=f"{prefix}-logs-2026.11.28")
    logs = await backend.search(SearchQuery(q="platypus", tenant=tenants[some], kind="logs"))
    assert [(h.task_id, h.attempt, h.seq) for h in logs.hits] == [(some, 1, 1)]
    assert logs.hits[0].queue  # from the task document
    assert not (await backend.search(SearchQuery(q="platypus", tenant="nobody", kind="logs"))).hits
    by_queue = SearchQuery(q="numbat", tenant=tenants[some], kind="logs", queue="q1")
    assert len((await backend.search(by_queue)).hits) == 1


async def _ids(backend: ElasticsearchSearch, query: SearchQuery) -> list[str]:
    return [h.task_id for h in (await backend.search(query)).hits]


async def test_projector_follows_the_log_and_rebuild_switches_the_alias(
    stack: dict[str, Any], es: Any, prefix: str
) -> None:
    settings = Settings(
        kafka_bootstrap=stack["kafka_bootstrap"],
        postgres_dsn=stack["postgres_dsn"],
        elasticsearch_url=URL,
        elasticsearch_index_prefix=prefix,
        elasticsearch_replicas=0,
    )
    pool = await asyncpg.create_pool(stack["postgres_dsn"], min_size=1, max_size=4)
    stop = asyncio.Event()
    try:
        index = await ensure_indices(es, prefix, shards=1, replicas=0)
        loops = [
            asyncio.create_task(SearchProjector(settings, pool, es, index).run(stop)),
            asyncio.create_task(SearchLogProjector(settings, pool, es, index).run(stop)),
        ]
        u = uuid.uuid4().hex[:8]
        failing = {"type": "demo.fail", "payload": {"failures": 1}, "max_attempts": 1}
        sleeping = {"type": "demo.sleep", "payload": {"seconds": 0}, "labels": {"run": f"r{u}"}}
        failed, slept = await submit_direct(stack, [failing, sleeping])
        alias = names.tasks_alias(prefix)
        backend = ElasticsearchSearch(es, prefix)

        async def indexed() -> bool:
            for loop in loops:
                if loop.done():
                    loop.result()  # a consumer that died says why
            await es.indices.refresh(index=f"{prefix}-*")
            docs = (await es.mget(index=alias, ids=[failed, slept]))["docs"]
            done = [d["_source"]["status"] for d in docs if d.get("found")]
            lines = await backend.search(
                SearchQuery(q="slept", tenant="default", kind="logs", limit=500)
            )
            seen[:] = [done, len(lines.hits)]
            return done == ["dead", "succeeded"] and slept in {h.task_id for h in lines.hits}

        seen: list[Any] = []
        try:
            await eventually(indexed, timeout=120, every=1.0)
        except AssertionError as exc:
            raise AssertionError(f"statuses and log hits indexed: {seen}") from exc
        assert failed in await _ids(
            backend, SearchQuery(q="demo failure", tenant="default", limit=500)
        )
        assert await _ids(backend, SearchQuery(q=f"r{u}", tenant="default")) == [slept]

        stop.set()
        await asyncio.gather(*loops)

        phases: list[str] = []
        rebuilt = await rebuild_search(
            settings, pool=pool, client=es, progress=lambda p, n: phases.append(p)
        )
        assert rebuilt.previous == index and rebuilt.index != index
        assert set(phases) == {"events", "logs"}
        assert list((await es.indices.get_alias(name=alias)).body) == [rebuilt.index]
        docs = (await es.mget(index=rebuilt.index, ids=[failed, slept]))["docs"]
        assert [d["_source"]["status"] for d in docs] == ["dead", "succeeded"]
        assert await _ids(backend, SearchQuery(q=f"r{u}", tenant="default")) == [slept]
        saved = await pool.fetch(
            "SELECT projection, partition FROM projection_checkpoints WHERE projection LIKE $1",
            f"%{rebuilt.index}",
        )
        assert {r["projection"] for r in saved} == {
            f"search:{rebuilt.index}",
            f"search-logs:{rebuilt.index}",
        }
    finally:
        stop.set()
        await pool.close()
