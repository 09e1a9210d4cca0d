"""Live tails on the embedded stack: gapless resume, slow clients, tenants, stream limits."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import Counter
from typing import Any

import asyncpg
import httpx
import orjson
import pytest
from websockets.exceptions import ConnectionClosed

from api.tails import cursor as cursors
from tests.integration.helpers import api, eventually, wait_terminal
from tests.integration.tail_clients import (
    own_api,
    small_receive_socket,
    sse_messages,
    start_worker,
    stop_worker,
    submit_direct,
    ws_tail,
)

pytestmark = pytest.mark.integration
TASKS = 1250  # 4 events each: 5,000 events
QUEUE_MAX = 50


async def _archived(dsn: str, ids: list[str]) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn)
    try:
        rows: list[asyncpg.Record] = await conn.fetch(
            'SELECT task_id, version, type, partition, "offset" FROM task_events'
            " WHERE task_id = ANY($1::text[])",
            ids,
        )
        return rows
    finally:
        await conn.close()


def _check_exact(received: list[dict[str, Any]], archived: list[asyncpg.Record]) -> None:
    """No gap, no duplicate, and every task's events in version order."""
    positions = [m["position"] for m in received]
    assert len(positions) == len(set(positions)), "a message was delivered twice"
    assert set(positions) == {f"{r['partition']}:{r['offset']}" for r in archived}
    got = Counter(
        (m["event"]["task_id"], m["event"]["version"], m["event"]["type"]) for m in received
    )
    assert got == Counter((r["task_id"], r["version"], r["type"]) for r in archived)
    per_task: dict[str, list[int]] = {}
    for m in received:
        per_task.setdefault(m["event"]["task_id"], []).append(m["event"]["version"])
    assert all(v == sorted(v) for v in per_task.values()), "a task's events out of order"


async def _ws_reader(
    stack: dict[str, Any], queue: str, into: list[dict[str, Any]], ready: asyncio.Event
) -> None:
    url, key, spec = stack["api_url"], stack["api_key"], {"stream": "events", "queue": queue}
    async with ws_tail(url, key, spec) as ws:
        ready.set()
        while len(into) < 1000:  # cut off mid-stream
            into.append(orjson.loads(await ws.recv()))
    await asyncio.sleep(1.0)
    async with ws_tail(url, key, {**spec, "cursor": into[-1]["cursor"]}) as ws:
        while True:
            into.append(orjson.loads(await ws.recv()))


async def _sse_reader(
    stack: dict[str, Any], queue: str, into: list[dict[str, Any]], ready: asyncio.Event
) -> None:
    async with api(stack) as client:
        last: str | None = None
        for cut in (1500, None):
            stream = sse_messages(
                client, "/v1/stream/events", params={"queue": queue}, last_id=last
            )
            async with contextlib.aclosing(stream) as messages:
                async for event, ident, data in messages:
                    if event == "subscribed":
                        ready.set()
                    elif event == "event":
                        into.append(data)
                        last = ident
                        if cut is not None and len(into) >= cut:
                            break
            assert last == into[-1]["cursor"]
            await asyncio.sleep(1.0)


@pytest.mark.timeout(600)
async def test_ws_and_sse_clients_cut_off_mid_stream_resume_without_gap_or_duplicate(
    stack: dict[str, Any],
) -> None:
    queue = f"tails-{uuid.uuid4().hex[:10]}"
    worker = start_worker(stack, queue)
    by_ws: list[dict[str, Any]] = []
    by_sse: list[dict[str, Any]] = []
    ready = [asyncio.Event(), asyncio.Event()]
    readers = [
        asyncio.create_task(_ws_reader(stack, queue, by_ws, ready[0])),
        asyncio.create_task(_sse_reader(stack, queue, by_sse, ready[1])),
    ]
    try:
        await asyncio.wait_for(asyncio.gather(*(r.wait() for r in ready)), 60)
        bodies = [{"type": "demo.echo", "queue": queue, "payload": {"i": i}} for i in range(TASKS)]
        ids = await submit_direct(stack, bodies)
        final = await wait_terminal(stack["postgres_dsn"], ids, timeout=240)
        assert set(final.values()) == {"succeeded"}
        archived = await _archived(stack["postgres_dsn"], ids)
        assert len(archived) >= 4 * TASKS

        async def delivered() -> bool:
            for r in readers:
                if r.done():
                    r.result()  # a reader that failed fails the test with its error
            return len(by_ws) >= len(archived) and len(by_sse) >= len(archived)

        await eventually(delivered, timeout=60)
        await asyncio.sleep(1.5)  # a duplicate would arrive now
    finally:
        for r in readers:
            r.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
        stop_worker(worker)
    _check_exact(by_ws, archived)
    _check_exact(by_sse, archived)


async def _collect(
    url: str, key: str, spec: dict[str, Any], into: list[dict[str, Any]], ready: asyncio.Event
) -> None:
    async with ws_tail(url, key, spec) as ws:
        ready.set()
        while True:
            into.append(orjson.loads(await ws.recv()))


async def _sse_all(url: str, key: str, path: str, params: dict[str, str]) -> list[Any]:
    """Every message of an SSE tail replayed from the beginning, until 2 s pass."""
    got: list[Any] = []
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=url, headers=headers) as client:

        async def read() -> None:
            stream = sse_messages(client, path, params=params, last_id=FROM_START[path])
            async with contextlib.aclosing(stream) as messages:
                async for event, _, data in messages:
                    if event in ("event", "log"):
                        got.append(data)

        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(read(), 2.0)
    return got


FROM_START = {
    "/v1/stream/events": cursors.encode("events", {}),
    "/v1/stream/logs": cursors.encode("logs", {}),
}


async def test_each_tenant_sees_only_its_own_events_and_log_lines(stack: dict[str, Any]) -> None:
    body = {"type": "demo.sleep", "payload": {"seconds": 0.01}}
    async with own_api(stack) as (_, url):
        live: dict[str, list[dict[str, Any]]] = {"key-default": [], "key-acme": []}
        ready = {k: asyncio.Event() for k in live}
        tasks = [
            asyncio.create_task(_collect(url, k, {"stream": "events"}, live[k], ready[k]))
            for k in live
        ]
        try:
            await asyncio.wait_for(asyncio.gather(*(r.wait() for r in ready.values())), 60)
            (mine,) = await submit_direct(stack, [body])
            (theirs,) = await submit_direct(stack, [body], tenant="acme")
            await wait_terminal(stack["postgres_dsn"], [mine, theirs], timeout=60)

            async def both_seen() -> bool:
                return any(m["event"]["task_id"] == mine for m in live["key-default"]) and any(
                    m["event"]["task_id"] == theirs for m in live["key-acme"]
                )

            await eventually(both_seen, timeout=30)
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        assert {m["event"]["tenant"] for m in live["key-default"]} == {"default"}
        assert {m["event"]["tenant"] for m in live["key-acme"]} == {"acme"}
        # Replays from the beginning of the log are filtered by tenant too.
        for path in ("/v1/stream/events", "/v1/stream/logs"):
            owner = await _sse_all(url, "key-acme", path, {"task_id": theirs})
            other = await _sse_all(url, "key-default", path, {"task_id": theirs})
            assert owner and other == [], path
        lines = await _sse_all(url, "key-acme", "/v1/stream/logs", {"task_id": theirs})
        assert any("sleeping" in line["log"]["message"] for line in lines)
        assert {line["log"]["tenant"] for line in lines} == {"acme"}


async def test_a_client_that_never_reads_is_closed_and_its_queue_stays_bounded(
    stack: dict[str, Any],
) -> None:
    async with own_api(stack, tail_client_queue_max=QUEUE_MAX) as (app, url):
        hub = app.state.tails.hubs["events"]
        sock = small_receive_socket(url)
        # Tenant `acme` sees only this test's traffic: 400 tasks, 4 events each.
        spec = {"stream": "events"}
        async with ws_tail(url, "key-acme", spec, sock=sock, max_queue=1) as ws:
            (sub,) = [s for subs in hub._subs.values() for s in subs]
            bodies = [{"type": "demo.echo", "payload": {"pad": "x" * 500}}] * 400
            feeding = asyncio.create_task(submit_direct(stack, bodies, tenant="acme"))
            most = 0

            async def dropped() -> bool:
                nonlocal most
                most = max(most, sub.queued)
                return sub.overflowed.is_set()

            await eventually(dropped, timeout=60, every=0.01)
            await feeding
            assert most <= QUEUE_MAX and sub.queued == 0 and len(hub) == 0
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    await asyncio.wait_for(ws.recv(), 10)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 4008
        assert closed.value.rcvd.reason.startswith("client too slow: ")
        assert closed.value.rcvd.reason.endswith("reconnect with your last cursor")


async def test_streams_per_key_are_limited(stack: dict[str, Any]) -> None:
    async with (
        own_api(stack, tail_max_streams_per_key=2) as (_, url),
        contextlib.AsyncExitStack() as open_,
    ):
        for _ in range(2):
            await open_.enter_async_context(ws_tail(url, "key-acme", {"stream": "events"}))
        headers = {"Authorization": "Bearer key-acme"}
        async with httpx.AsyncClient(base_url=url, headers=headers) as client:
            resp = await client.get("/v1/stream/events")
            assert resp.status_code == 429, resp.text
            assert "limit 2" in resp.json()["detail"]
        with pytest.raises(ConnectionClosed) as closed:
            async with ws_tail(url, "key-acme", {"stream": "events"}):
                pass
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4029
        # Another key of the same tenant is counted on its own.
        async with ws_tail(url, "key-acme-2", {"stream": "events"}):
            pass
