"""Limits on a live API built by its own composition root on the embedded stack: the rate
limit in Redis (429 + Retry-After), revocation, and the limit on open tails per key."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from api.app import create_app
from taskstream.settings import Settings
from tests.integration.auth_keys import client_for, key_repo, make_key
from tests.integration.helpers import eventually
from tests.integration.tail_clients import serve, ws_url

pytestmark = pytest.mark.integration


@contextlib.asynccontextmanager
async def live_api(stack: dict[str, Any], **settings: Any) -> AsyncIterator[str]:
    """`create_app` with real adapters (Postgres keys, Redis limiter) served over HTTP."""
    endpoints = {
        "kafka_bootstrap": stack["kafka_bootstrap"],
        "postgres_dsn": stack["postgres_dsn"],
        "redis_url": stack["redis_url"],
    }
    s = Settings(**{**endpoints, **settings})
    app = create_app(s)
    async with serve(app) as url:
        await eventually(lambda: _ready(url), timeout=60)
        yield url


async def _ready(url: str) -> bool:
    async with client_for(url, None) as client:
        return (await client.get("/readyz")).status_code == 200


async def test_over_the_rate_a_key_gets_429_with_retry_after(stack: dict[str, Any]) -> None:
    async with key_repo(stack) as repo:
        key = await make_key(repo, f"rl-{uuid.uuid4().hex[:8]}", "tasks:read")
        other = await make_key(repo, f"rl-{uuid.uuid4().hex[:8]}", "tasks:read")
    async with live_api(stack, rate_limit_per_second=0.2, rate_limit_burst=3) as url:
        async with client_for(url, key) as client:
            answers = [await client.get("/v1/tasks") for _ in range(4)]
        assert [a.status_code for a in answers] == [200, 200, 200, 429]
        assert [a.headers["RateLimit-Remaining"] for a in answers[:3]] == ["2", "1", "0"]
        refused = answers[3]
        assert refused.headers["content-type"].startswith("application/problem+json")
        # One request per 5 s: the next one may pass in at most 5 s.
        assert 1 <= int(refused.headers["Retry-After"]) <= 5
        assert refused.json()["limit"] == 3
        # Counted per key: another key still has its whole burst.
        async with client_for(url, other) as client:
            assert (await client.get("/v1/tasks")).status_code == 200
        # A WebSocket tail is a request too: refused with the rate limit's close code.
        code = await _ws_close_code(url, key)
        assert code == 4029


async def _ws_close_code(url: str, key: str) -> int | None:
    headers = {"Authorization": f"Bearer {key}"}
    async with connect(ws_url(url), additional_headers=headers) as ws:
        try:
            await ws.send(orjson.dumps({"subscribe": {"stream": "events"}}).decode())
            await asyncio.wait_for(ws.recv(), 30)
        except ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd else None
    return None


async def test_without_redis_the_api_fails_open(stack: dict[str, Any]) -> None:
    async with key_repo(stack) as repo:
        key = await make_key(repo, f"rl-{uuid.uuid4().hex[:8]}", "tasks:read")
    dead_redis = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    async with (
        live_api(stack, redis_url=dead_redis, rate_limit_burst=1) as url,
        client_for(url, key) as client,
    ):
        answers = [await client.get("/v1/tasks") for _ in range(3)]
        metrics = (await client.get("/metrics")).text
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert "taskstream_api_rate_limit_unavailable_total 3.0" in metrics


async def test_a_revoked_key_is_refused_by_the_running_api(stack: dict[str, Any]) -> None:
    """The stack's API caches lookups for 1 s (conftest): the revocation shows soon after."""
    async with key_repo(stack) as repo:
        _, key = await repo.create(f"rv-{uuid.uuid4().hex[:8]}", "tasks:read")
        async with client_for(stack["api_url"], key) as client:
            assert (await client.get("/v1/tasks")).status_code == 200
            assert await repo.revoke(key.split("_")[1]) is not None

            async def refused() -> bool:
                return (await client.get("/v1/tasks")).status_code == 401

            await eventually(refused, timeout=15, every=0.2)


async def test_open_tails_per_key_are_limited_over_websocket_and_sse(
    stack: dict[str, Any],
) -> None:
    async with key_repo(stack) as repo:
        key = await make_key(repo, f"tl-{uuid.uuid4().hex[:8]}", "tasks:read")
    async with live_api(stack, tail_max_streams_per_key=2) as url:
        headers = {"Authorization": f"Bearer {key}"}
        async with (
            connect(ws_url(url), additional_headers=headers) as ws1,
            client_for(url, key) as client,
            client.stream("GET", "/v1/stream/events") as sse,
        ):
            await ws1.send(orjson.dumps({"subscribe": {"stream": "events"}}).decode())
            assert "subscribed" in orjson.loads(await ws1.recv())
            assert sse.status_code == 200
            # Third tail with this key: the WebSocket is closed with 4029 and a reason ...
            async with connect(ws_url(url), additional_headers=headers) as ws3:
                await ws3.send(orjson.dumps({"subscribe": {"stream": "events"}}).decode())
                with pytest.raises(ConnectionClosed) as closed:
                    await asyncio.wait_for(ws3.recv(), 30)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4029
            assert "2" in closed.value.rcvd.reason
            # ... and SSE gets a 429 problem naming the limit.
            refused = await client.get("/v1/stream/logs", params={"task_id": "t"})
            assert refused.status_code == 429 and refused.json()["limit"] == 2
            assert refused.headers["Retry-After"]
