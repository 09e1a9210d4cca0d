"""Tenant isolation over every route of the live API, driven by the app's own route table.

Two tenants with Postgres keys. For every route: missing, wrong and revoked keys get 401,
a key without the route's scope gets 403 (problem+json); tenant A's key with the scope
gets through; tenant B's key never reads or writes A's data. A route the matrix does not
name fails the test: add its row to MATRIX (one line) when adding a route.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from fastapi import FastAPI
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from api.app import create_app
from api.auth import ADMIN, READ, WRITE
from taskstream.settings import Settings
from tests.integration.auth_keys import client_for, key_repo, make_key
from tests.integration.helpers import eventually
from tests.integration.tail_clients import ws_url

pytestmark = pytest.mark.integration
PROBLEM_JSON = "application/problem+json"
PUBLIC = None
WS = "WS"


@dataclass(frozen=True)
class Row:
    """One route: its scope (None: public), A's expected status, and how to call it."""

    method: str
    path: str
    scope: str | None
    ok: int = 200
    body: Any = None
    params: dict[str, str] = field(default_factory=dict)
    sse: bool = False
    # What B gets where it differs from 404: queues are per tenant, so B's pause of A's
    # queue name acts on B's own queue of that name (and A's is checked unchanged).
    b_ok: int | None = None


# {task}, {schedule}, {key}: tenant A's resources. Order matters: reads, then writes.
MATRIX: list[Row] = [
    Row("GET", "/openapi.json", PUBLIC),
    Row("GET", "/docs", PUBLIC),
    Row("GET", "/docs/oauth2-redirect", PUBLIC),
    Row("GET", "/redoc", PUBLIC),
    Row("GET", "/healthz", PUBLIC),
    Row("GET", "/readyz", PUBLIC),
    Row("GET", "/metrics", PUBLIC),
    Row("GET", "/v1/contract/commands", PUBLIC),
    Row("GET", "/v1/tasks", READ),
    Row("GET", "/v1/tasks/{task_id}", READ),
    Row("GET", "/v1/tasks/{task_id}/events", READ),
    Row("GET", "/v1/tasks/{task_id}/attempts", READ),
    Row("GET", "/v1/tasks/{task_id}/logs", READ),
    Row("GET", "/v1/tasks/{task_id}/state", READ, params={"at": "1"}),
    Row("GET", "/v1/dlq", READ),
    Row("GET", "/v1/schedules", READ),
    Row("GET", "/v1/schedules/{schedule_id}", READ),
    Row("GET", "/v1/stream/events", READ, sse=True),
    Row("GET", "/v1/stream/logs", READ, sse=True, params={"task_id": "{task_id}"}),
    Row(WS, "/v1/stream/ws", READ),
    Row("GET", "/v1/admin/keys", ADMIN),
    Row("GET", "/v1/queues", READ),
    Row("GET", "/v1/queues/{queue}", READ),
    Row("GET", "/v1/queues/{queue}/stats", READ),
    Row("GET", "/v1/workers", READ),
    Row("GET", "/v1/search", READ, params={"q": "{queue}"}),
    Row("POST", "/v1/tasks", WRITE, 202, {"type": "demo.echo", "queue": "{queue}"}),
    Row("POST", "/v1/tasks:batch", WRITE, 202, {"tasks": [{"type": "demo.echo"}]}),
    Row("POST", "/v1/tasks/{task_id}/redrive", WRITE, 202, {"reason": "matrix"}),
    Row("POST", "/v1/dlq/redrive", ADMIN, 202, {"ids": ["{task_id}"]}),
    Row("POST", "/v1/schedules", WRITE, 202, {"cron": "0 0 1 1 *", "template": {"type": "x"}}),
    Row("POST", "/v1/schedules/{schedule_id}/pause", WRITE, 202),
    Row("POST", "/v1/schedules/{schedule_id}/resume", WRITE, 202),
    Row("POST", "/v1/admin/keys", ADMIN, 201, {"scopes": ["tasks:read"], "name": "m"}),
    Row("POST", "/v1/admin/keys/{key_id}/revoke", ADMIN),
    Row("POST", "/v1/tasks/{task_id}/cancel", WRITE, 202, {"reason": "matrix"}),
    Row("DELETE", "/v1/schedules/{schedule_id}", WRITE, 202),
    Row("POST", "/v1/queues/{queue}/pause", WRITE, 202, {"reason": "matrix"}, b_ok=202),
    Row("POST", "/v1/queues/{queue}/resume", WRITE, 202, b_ok=202),
    Row("PUT", "/v1/queues/{queue}/limit", WRITE, 202, {"limit": 3}, b_ok=202),
    Row("DELETE", "/v1/queues/{queue}/limit", WRITE, 202, b_ok=202),
]


def routes_of(app: FastAPI) -> set[tuple[str, str]]:
    """(method, path) of every route the app serves (WebSocket routes as `WS`)."""
    try:
        from fastapi.routing import iter_route_contexts

        flat: list[Any] = list(iter_route_contexts(app.routes))
    except ImportError:  # older FastAPI: included routes are flat already
        flat = list(app.routes)
    out: set[tuple[str, str]] = set()
    for route in flat:
        methods = getattr(route, "methods", None) or {WS}
        out |= {(m, route.path) for m in methods if m != "HEAD"}
    return out


def test_every_route_has_a_row() -> None:
    served = routes_of(create_app(Settings()))
    named = {(r.method, r.path) for r in MATRIX}
    assert served - named == set(), "routes missing from MATRIX (add a Row for each)"
    assert named - served == set(), "MATRIX rows for routes that do not exist"


def fill(value: Any, ids: dict[str, str]) -> Any:
    """`value` with {name} placeholders replaced by A's ids."""
    if isinstance(value, str):
        return value.format(**ids)
    if isinstance(value, list):
        return [fill(v, ids) for v in value]
    if isinstance(value, dict):
        return {k: fill(v, ids) for k, v in value.items()}
    return value


async def call(
    api_url: str, row: Row, key: str | None, ids: dict[str, str]
) -> tuple[int, str, str]:
    """(status, content type, body text) of one call; (close code, "ws", reason) for WS."""
    if row.method == WS:
        return await ws_call(api_url, key, {"stream": "events"})
    path = fill(row.path, ids)
    params = fill(row.params, ids)
    async with client_for(api_url, key) as client:
        if row.sse:
            async with client.stream("GET", path, params=params) as resp:
                text = "" if resp.status_code == 200 else (await resp.aread()).decode()
                return resp.status_code, resp.headers.get("content-type", ""), text
        body = fill(row.body, ids)
        resp = await client.request(row.method, path, params=params, json=body)
        return resp.status_code, resp.headers.get("content-type", ""), resp.text


async def ws_call(api_url: str, key: str | None, subscribe: dict[str, Any]) -> tuple[int, str, str]:
    """Open a WebSocket tail: (200, "ws", ack) once subscribed, else (close code, "ws", reason)."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    async with connect(ws_url(api_url), additional_headers=headers) as ws:
        try:
            await ws.send(orjson.dumps({"subscribe": subscribe}).decode())
            first = await asyncio.wait_for(ws.recv(), 30)
        except ConnectionClosed as closed:
            assert closed.rcvd is not None
            return closed.rcvd.code, "ws", closed.rcvd.reason
        return 200, "ws", str(first)


def refused(outcome: tuple[int, str, str], status: int, row: Row) -> None:
    """`outcome` is a refusal with `status` (a problem document; a WS close 4401/4403)."""
    code, content_type, text = outcome
    if row.method == WS:
        assert code == 4000 + status, (row.path, outcome)
        return
    assert code == status, (row.method, row.path, outcome)
    assert content_type.startswith(PROBLEM_JSON), (row.path, content_type)
    assert orjson.loads(text)["status"] == status


@pytest.fixture(scope="module")
async def tenants(stack: dict[str, Any]) -> dict[str, Any]:
    """Two tenants' keys and tenant A's task, schedule and spare key."""
    a, b = f"ta-{uuid.uuid4().hex[:8]}", f"tb-{uuid.uuid4().hex[:8]}"
    async with key_repo(stack) as repo:
        keys = {
            "a": await make_key(repo, a, "tasks:read,tasks:write,admin"),
            "b": await make_key(repo, b, "tasks:read,tasks:write,admin"),
            READ: await make_key(repo, a, "tasks:write,admin"),  # lacks tasks:read
            WRITE: await make_key(repo, a, "tasks:read,admin"),  # lacks tasks:write
            ADMIN: await make_key(repo, a, "tasks:read,tasks:write"),  # lacks admin
            "revoked": await make_key(repo, a, "tasks:read,tasks:write,admin"),
        }
        spare, _ = await repo.create(a, "tasks:read", name="spare")
        revoked_id = keys["revoked"].split("_")[1]
        assert await repo.revoke(revoked_id) is not None
    secret = f"secret-of-a-{uuid.uuid4().hex}"
    queue = f"matrix-{uuid.uuid4().hex[:8]}"  # no worker: A's task stays pending
    async with client_for(stack["api_url"], keys["a"]) as client:
        resp = await client.post(
            "/v1/tasks", json={"type": "demo.echo", "queue": queue, "payload": {"s": secret}}
        )
        assert resp.status_code == 202, resp.text
        task_id = resp.json()["id"]
        resp = await client.post(
            "/v1/schedules",
            json={"cron": "0 0 1 1 *", "template": {"type": "demo.echo", "payload": secret}},
        )
        assert resp.status_code == 202, resp.text
        schedule_id = resp.json()["id"]

        async def projected() -> bool:
            t = await client.get(f"/v1/tasks/{task_id}")
            s = await client.get(f"/v1/schedules/{schedule_id}")
            return t.status_code == 200 and s.status_code == 200

        await eventually(projected, timeout=60)
    ids = {"task_id": task_id, "schedule_id": schedule_id, "key_id": spare["id"], "queue": queue}
    return {"a": a, "b": b, "keys": keys, "ids": ids, "secret": secret}


async def test_keys_and_scopes_are_enforced_on_every_route(
    stack: dict[str, Any], tenants: dict[str, Any]
) -> None:
    url, keys, ids = stack["api_url"], tenants["keys"], tenants["ids"]
    for row in MATRIX:
        if row.scope is PUBLIC:
            status, _, _ = await call(url, row, None, ids)
            assert status == 200, row
            continue
        refused(await call(url, row, None, ids), 401, row)
        refused(await call(url, row, "tsk_" + "x" * 16 + "_" + "y" * 43, ids), 401, row)
        refused(await call(url, row, "not-a-key", ids), 401, row)
        refused(await call(url, row, keys["revoked"], ids), 401, row)
        refused(await call(url, row, keys[row.scope], ids), 403, row)


async def test_tenant_b_never_reads_or_writes_tenant_a(
    stack: dict[str, Any], tenants: dict[str, Any]
) -> None:
    url, keys, ids = stack["api_url"], tenants["keys"], tenants["ids"]
    leaks = (tenants["a"], tenants["secret"])
    for row in MATRIX:
        if row.scope is PUBLIC or row.method == WS:
            continue  # the tails: test_live_tails_are_isolated
        status, _, text = await call(url, row, keys["b"], ids)
        assert status < 500, (row, text)
        # Anything naming A's resources is not found for B; lists and writes never show A.
        if row.b_ok is not None:
            assert status == row.b_ok, (row.method, row.path, status, text)
        elif any("{" + name + "}" in row.path for name in ids):
            assert status == 404, (row.method, row.path, status, text)
        assert not any(leak in text for leak in leaks), (row.method, row.path, text)
    async with client_for(url, keys["a"]) as client:
        task = (await client.get(f"/v1/tasks/{ids['task_id']}")).json()
        schedule = (await client.get(f"/v1/schedules/{ids['schedule_id']}")).json()
        spare = (await client.get("/v1/admin/keys", params={"limit": 500})).json()
        queue = (await client.get(f"/v1/queues/{ids['queue']}")).json()
    # B's cancel, redrive, pause, delete and revoke of A's resources changed nothing.
    assert task["status"] == "pending" and task["version"] == 1, task
    assert not schedule["paused"] and not schedule["deleted"] and schedule["version"] == 1
    assert [k["revoked_at"] for k in spare["items"] if k["id"] == ids["key_id"]] == [None]
    assert not queue["paused"] and queue["concurrency_limit"] is None, queue
    # And tenant A, with each scope, gets through on every route.
    for row in MATRIX:
        if row.scope is not PUBLIC:
            status, _, text = await call(url, row, keys["a"], ids)
            assert status == row.ok, (row.method, row.path, status, text)


async def test_b_submits_with_a_s_idempotency_key_and_gets_its_own_task(
    stack: dict[str, Any], tenants: dict[str, Any]
) -> None:
    keys, key = tenants["keys"], {"Idempotency-Key": f"same-{uuid.uuid4().hex}"}
    body = {"type": "demo.echo", "queue": tenants["ids"]["queue"]}
    async with client_for(stack["api_url"], keys["a"]) as a:
        mine = (await a.post("/v1/tasks", json=body, headers=key)).json()["id"]
    async with client_for(stack["api_url"], keys["b"]) as b:
        theirs = (await b.post("/v1/tasks", json=body, headers=key)).json()["id"]
        assert mine != theirs
        assert (await b.get(f"/v1/tasks/{mine}")).status_code == 404


async def _collect(
    url: str, key: str, subscribe: dict[str, Any], into: list[dict[str, Any]]
) -> None:
    headers = {"Authorization": f"Bearer {key}"}
    async with connect(ws_url(url), additional_headers=headers) as ws:
        await ws.send(orjson.dumps({"subscribe": subscribe}).decode())
        async for message in ws:
            into.append(orjson.loads(message))


async def _collect_sse(
    url: str, key: str, path: str, params: dict[str, str], into: list[str]
) -> None:
    async with (
        client_for(url, key) as client,
        client.stream("GET", path, params=params, timeout=None) as resp,
    ):
        assert resp.status_code == 200
        async for line in resp.aiter_lines():
            if line.startswith("data: "):
                into.append(line[6:])


async def test_live_tails_are_isolated(stack: dict[str, Any], tenants: dict[str, Any]) -> None:
    url, keys = stack["api_url"], tenants["keys"]
    marker = uuid.uuid4().hex
    async with client_for(url, keys["a"]) as a, client_for(url, keys["b"]) as b:
        sleep = {"type": "demo.sleep", "payload": {"seconds": 0.01}, "labels": {"m": marker}}
        a_task = (await a.post("/v1/tasks", json=sleep)).json()["id"]
        seen: dict[str, list[Any]] = {"a_ws": [], "b_ws": [], "b_logs_ws": []}
        text: dict[str, list[str]] = {"b_sse": [], "b_lsse": []}
        jobs = [
            _collect(url, keys["a"], {"stream": "events"}, seen["a_ws"]),
            _collect(url, keys["b"], {"stream": "events"}, seen["b_ws"]),
            _collect(url, keys["b"], {"stream": "logs", "task_id": a_task}, seen["b_logs_ws"]),
            _collect_sse(url, keys["b"], "/v1/stream/events", {}, text["b_sse"]),
            _collect_sse(url, keys["b"], "/v1/stream/logs", {"task_id": a_task}, text["b_lsse"]),
        ]
        running = [asyncio.ensure_future(j) for j in jobs]
        try:
            await eventually(lambda: _acked(seen, text), timeout=30)
            a_next = (await a.post("/v1/tasks", json=sleep)).json()["id"]
            b_task = (await b.post("/v1/tasks", json=sleep)).json()["id"]

            async def both_done() -> bool:
                return _finished(seen["a_ws"], a_next) and _finished(seen["b_ws"], b_task)

            await eventually(both_done, timeout=90)
            await eventually(lambda: _sse_has(text["b_sse"], b_task), timeout=30)
        finally:
            for job in running:
                job.cancel()
            await asyncio.gather(*running, return_exceptions=True)
    b_events = [m["event"] for m in seen["b_ws"] if "event" in m]
    assert b_events and {e["tenant"] for e in b_events} == {tenants["b"]}
    assert all(e["task_id"] not in (a_task, a_next) for e in b_events)
    assert [m for m in seen["b_logs_ws"] if "log" in m] == []
    assert text["b_lsse"] == [] or all("subscribed" in t or "cursor" in t for t in text["b_lsse"])
    for line in text["b_sse"]:
        assert tenants["a"] not in line and a_next not in line and a_task not in line


async def _acked(seen: dict[str, list[Any]], text: dict[str, list[str]]) -> bool:
    ws = all(any("subscribed" in m for m in got) for got in seen.values())
    return ws and all(text.values())


def _finished(messages: list[Any], task_id: str) -> bool:
    return any(
        m.get("event", {}).get("task_id") == task_id and m["event"]["type"] == "task.succeeded"
        for m in messages
    )


async def _sse_has(lines: list[str], task_id: str) -> bool:
    return any(task_id in line for line in lines)
