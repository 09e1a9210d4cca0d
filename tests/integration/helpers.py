"""Helpers shared by the integration tests: an API client and read-model polling."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx

if TYPE_CHECKING:
    from taskstream.settings import Settings

TERMINAL = {"succeeded", "dead", "cancelled"}


def api(stack: dict[str, Any]) -> httpx.AsyncClient:
    """An HTTP client for the stack's API, authenticated with the development key."""
    return httpx.AsyncClient(
        base_url=stack["api_url"],
        headers={"Authorization": f"Bearer {stack['api_key']}"},
        timeout=30,
    )


async def submit_many(
    client: httpx.AsyncClient, bodies: list[dict[str, Any]], *, concurrency: int = 16
) -> list[str]:
    """Submit every body over REST (in order of start) and return the task ids."""
    ids: list[str] = [""] * len(bodies)
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int, body: dict[str, Any]) -> None:
        # An idempotency key makes a retry after a dropped connection safe.
        headers = {"Idempotency-Key": uuid.uuid4().hex}
        async with gate:
            for attempt in range(3):
                try:
                    resp = await client.post("/v1/tasks", json=body, headers=headers)
                    break
                except httpx.TransportError:
                    if attempt == 2:
                        raise
            assert resp.status_code == 202, resp.text
            ids[i] = resp.json()["id"]

    await asyncio.gather(*(one(i, b) for i, b in enumerate(bodies)))
    return ids


async def eventually(
    probe: Callable[[], Awaitable[Any]], *, timeout: float = 60.0, every: float = 0.25
) -> Any:
    """Poll `probe` until it returns a truthy value; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await probe()
        if last:
            return last
        await asyncio.sleep(every)
    raise AssertionError(f"condition not met in {timeout} s (last: {last!r})")


async def statuses(dsn: str, ids: list[str]) -> dict[str, str]:
    """Current status of each task in the Postgres read model."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT id, status FROM tasks WHERE id = ANY($1::text[])", ids)
    finally:
        await conn.close()
    return {r["id"]: r["status"] for r in rows}


async def wait_terminal(dsn: str, ids: list[str], *, timeout: float = 120.0) -> dict[str, str]:
    """Wait until every task is terminal in the read model; return the statuses."""

    async def probe() -> dict[str, str] | None:
        current = await statuses(dsn, ids)
        done = sum(1 for s in current.values() if s in TERMINAL)
        return current if done == len(ids) else None

    result: dict[str, str] = await eventually(probe, timeout=timeout, every=0.5)
    return result


async def task(client: httpx.AsyncClient, task_id: str) -> dict[str, Any]:
    """GET one task."""
    resp = await client.get(f"/v1/tasks/{task_id}")
    assert resp.status_code == 200, resp.text
    data: dict[str, Any] = resp.json()
    return data


async def events(client: httpx.AsyncClient, task_id: str) -> list[dict[str, Any]]:
    """GET a task's events."""
    resp = await client.get(f"/v1/tasks/{task_id}/events")
    assert resp.status_code == 200, resp.text
    items: list[dict[str, Any]] = resp.json()["items"]
    return items


def with_database(dsn: str, name: str) -> str:
    """`dsn` pointing at database `name` on the same server."""
    return urlunsplit(urlsplit(dsn)._replace(path=f"/{name}"))


@contextlib.asynccontextmanager
async def fresh_settings(
    stack: dict[str, Any], name: str, **overrides: Any
) -> AsyncIterator[Settings]:
    """Settings on a database and topics of their own (`name` prefixes both; 4 partitions
    unless `overrides` say otherwise); the database is dropped afterwards."""
    from taskstream.settings import Settings
    from taskstream.topics import base_topic_names, ensure_topics

    database = f"ts_{name}_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(stack["postgres_dsn"])
    try:
        await admin.execute(f'CREATE DATABASE "{database}"')
        s = Settings(
            kafka_bootstrap=stack["kafka_bootstrap"],
            postgres_dsn=with_database(stack["postgres_dsn"], database),
            topic_prefix=f"{name}test{uuid.uuid4().hex[:8]}",
            **{"partitions": 4, **overrides},
        )
        await ensure_topics(s, base_topic_names(s))
        yield s
        await admin.execute(f'DROP DATABASE "{database}" WITH (FORCE)')
    finally:
        await admin.close()
