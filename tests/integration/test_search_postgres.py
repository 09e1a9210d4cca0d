"""Search on the embedded stack with Postgres full text: payload, labels, errors, log lines.

Tasks run on a worker of their own queue with handlers that fail with, or log, a word
no other test uses; the searches go through an API in this process with two tenants'
keys (and once through the stack's own API, wired as in production).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from api.app import create_app
from api.ports import Adapters
from api.testing import RecordingSink
from projections.read import ReadModel
from projections.search.backend import SearchQuery
from projections.search.pg import PostgresSearch
from projections.search.pg_index import reindex_all
from taskstream.settings import Settings
from tests.integration.helpers import api, eventually, wait_terminal
from tests.integration.tail_clients import ROOT, TwoTenants, serve, stop_worker, submit_direct

pytestmark = pytest.mark.integration
QUEUE = "search-it"


def start_search_worker(stack: dict[str, Any]) -> subprocess.Popen[bytes]:
    """A worker of `QUEUE` running the handlers of `tests.integration.search_tasks`."""
    env = {**os.environ, "TASKSTREAM_KAFKA_BOOTSTRAP": stack["kafka_bootstrap"]}
    env["PYTHONPATH"] = str(ROOT)
    log = Path(stack["data_dir"]) / "test-worker-search.log"
    cmd = [sys.executable, "-m", "taskstream", "worker", "--queues", QUEUE]
    cmd += ["--tasks", "tests.integration.search_tasks"]
    return subprocess.Popen(cmd, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT)


@contextlib.asynccontextmanager
async def search_api(stack: dict[str, Any]) -> AsyncIterator[str]:
    """An API in this process on the stack's read model with two tenants' keys."""
    s = Settings(kafka_bootstrap=stack["kafka_bootstrap"], postgres_dsn=stack["postgres_dsn"])
    pool = await asyncpg.create_pool(stack["postgres_dsn"], min_size=1, max_size=4)
    try:
        adapters = Adapters(
            read_model=ReadModel(pool),
            commands=RecordingSink(),
            keys=TwoTenants(),
            search=PostgresSearch(pool),
        )
        async with serve(create_app(s, deps=adapters)) as url:
            yield url
    finally:
        await pool.close()


def body(type_: str, payload: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": type_, "queue": QUEUE, "payload": payload, **extra}


async def search(client: httpx.AsyncClient, key: str, **params: Any) -> dict[str, Any]:
    resp = await client.get("/v1/search", params=params, headers={"Authorization": f"Bearer {key}"})
    assert resp.status_code == 200, resp.text
    page: dict[str, Any] = resp.json()
    return page


def ids(page: dict[str, Any]) -> list[str]:
    return [h["task_id"] for h in page["items"]]


async def test_search_finds_payload_labels_errors_and_log_lines_per_tenant(
    stack: dict[str, Any],
) -> None:
    u = uuid.uuid4().hex[:8]
    worker = start_search_worker(stack)
    try:
        (echo,) = await submit_direct(
            stack,
            [body("search.echo", {"note": f"quokka{u} zebra"}, labels={"habitat": f"rottnest{u}"})],
        )
        (failed,) = await submit_direct(
            stack, [body("search.fail", {"error": f"wombat{u} burrow collapsed"}, max_attempts=1)]
        )
        (logged,) = await submit_direct(
            stack, [body("search.log", {"line": f"platypus{u} venom detected"})]
        )
        many = await submit_direct(
            stack, [body("search.echo", {"note": f"numbat{u} #{i}"}) for i in range(5)]
        )
        (theirs,) = await submit_direct(
            stack, [body("search.log", {"line": f"platypus{u} quokka{u} acme"})], tenant="acme"
        )
        every = [echo, failed, logged, *many, theirs]
        states = await wait_terminal(stack["postgres_dsn"], every, timeout=120)
        assert states[failed] == "dead"
        assert {states[t] for t in every if t != failed} == {"succeeded"}
    finally:
        stop_worker(worker)

    async with search_api(stack) as url, httpx.AsyncClient(base_url=url, timeout=30) as client:
        mine, acme = "key-default", "key-acme"
        # Payload text, each tenant its own.
        page = await search(client, mine, q=f"quokka{u}")
        assert ids(page) == [echo]
        assert page["backend"] == "postgres"
        hit = page["items"][0]
        assert (hit["type"], hit["status"], hit["queue"]) == ("search.echo", "succeeded", QUEUE)
        assert f"<mark>quokka{u}</mark>" in hit["snippet"]
        assert hit["score"] > 0
        assert ids(await search(client, acme, q=f"quokka{u}")) == [theirs]
        # Labels.
        assert ids(await search(client, mine, q=f"rottnest{u}")) == [echo]
        # The attempt's error, with the status filter.
        page = await search(client, mine, q=f"wombat{u} collapsed")
        assert ids(page) == [failed]
        assert page["items"][0]["status"] == "dead"
        assert f"<mark>wombat{u}</mark>" in page["items"][0]["snippet"]
        assert ids(await search(client, mine, q=f"wombat{u}", status="dead")) == [failed]
        assert ids(await search(client, mine, q=f"wombat{u}", status="succeeded")) == []
        assert ids(await search(client, acme, q=f"wombat{u}")) == []
        # Log lines (the task's payload also holds the words; kind=logs finds the line).
        lines = await search(client, mine, q=f"platypus{u} venom", kind="logs")
        assert ids(lines) == [logged]
        line = lines["items"][0]
        assert (line["kind"], line["attempt"], line["seq"], line["level"]) == (
            "logs", 1, 1, "warning",
        )  # fmt: skip
        assert line["snippet"] == f"<mark>platypus{u}</mark> <mark>venom</mark> detected"
        assert (
            ids(await search(client, mine, q=f"platypus{u}", kind="logs", type="search.echo")) == []
        )
        assert ids(await search(client, acme, q=f"platypus{u} venom", kind="logs")) == []
        assert ids(await search(client, acme, q=f"platypus{u}", kind="logs")) == [theirs]
        # Filters on type, queue and time.
        assert ids(await search(client, mine, q=f"quokka{u}", type="search.fail")) == []
        assert ids(await search(client, mine, q=f"quokka{u}", queue=QUEUE)) == [echo]
        later = "2999-01-01T00:00:00Z"
        assert ids(await search(client, mine, q=f"quokka{u}", since=later)) == []
        assert ids(await search(client, mine, q=f"quokka{u}", until=later)) == [echo]
        # Pagination: every match once, over three pages.
        seen: list[str] = []
        cursor = None
        pages = 0
        while True:
            params: dict[str, Any] = {"q": f"numbat{u}", "limit": 2}
            if cursor:
                params["cursor"] = cursor
            page = await search(client, mine, **params)
            seen += ids(page)
            pages += 1
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert pages == 3
        assert sorted(seen) == sorted(many)
        # Another tenant's cursor-less search of the same words finds nothing of ours.
        assert ids(await search(client, acme, q=f"numbat{u}")) == []

    # The stack's own API is wired to the same backend.
    async with api(stack) as client:

        async def found() -> list[str]:
            resp = await client.get("/v1/search", params={"q": f"rottnest{u}"})
            assert resp.status_code == 200, resp.text
            return ids(resp.json())

        assert await eventually(found, timeout=30) == [echo]


async def test_reindex_all_rebuilds_the_documents_from_the_task_rows(stack: dict[str, Any]) -> None:
    u = uuid.uuid4().hex[:8]
    worker = start_search_worker(stack)
    try:
        (failed,) = await submit_direct(
            stack, [body("search.fail", {"error": f"dingo{u} escaped"}, max_attempts=1)]
        )
        await wait_terminal(stack["postgres_dsn"], [failed], timeout=120)
    finally:
        stop_worker(worker)
    conn = await asyncpg.connect(stack["postgres_dsn"])
    try:
        async with conn.transaction():
            # As after a bulk load of `tasks` that bypassed the projector's batch apply.
            await conn.execute("DELETE FROM task_search")
            rows = await reindex_all(conn)
            assert rows == await conn.fetchval("SELECT count(*) FROM tasks")
            backend = PostgresSearch(_OneConnection(conn))
            page = await backend.search(SearchQuery(q=f"dingo{u}", tenant="default"))
            assert [(h.task_id, h.status) for h in page.hits] == [(failed, "dead")]
            raise _Rollback
    except _Rollback:
        pass
    finally:
        await conn.close()


class _Rollback(Exception):
    """Leaves the shared stack's table as it was."""


class _OneConnection:
    """A pool-shaped wrapper of one connection (to search inside its transaction)."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        rows: list[asyncpg.Record] = await self._conn.fetch(sql, *args)
        return rows
