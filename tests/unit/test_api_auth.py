"""Bearer-key authentication: refusals, open endpoints, the key store."""

from __future__ import annotations

import pytest

from api.app import create_app
from api.auth import READ, Principal, StaticKeyStore
from api.ports import Adapters
from api.problems import PROBLEM_JSON
from api.testing import (
    FakeReadModel,
    RecordingSink,
    assert_problem,
    build_test_app,
    http_client,
)
from taskstream.settings import Settings


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/tasks"),
        ("GET", "/v1/tasks"),
        ("GET", "/v1/tasks/t1"),
        ("GET", "/v1/tasks/t1/events"),
        ("POST", "/v1/tasks/t1/cancel"),
    ],
)
async def test_missing_key_is_401_with_a_bearer_challenge(method: str, path: str) -> None:
    sink = RecordingSink()
    async with http_client(build_test_app(sink=sink), key=None) as client:
        resp = await client.request(method, path, json={"type": "x"})
    body = assert_problem(resp, 401)
    assert resp.headers["www-authenticate"].startswith("Bearer")
    assert "Bearer" in body["detail"]
    assert sink.commands == []


async def test_wrong_key_is_401_invalid_token_and_writes_nothing() -> None:
    sink = RecordingSink()
    async with http_client(build_test_app(sink=sink), key="not-the-key") as client:
        resp = await client.post("/v1/tasks", json={"type": "x"})
    assert_problem(resp, 401)
    assert 'error="invalid_token"' in resp.headers["www-authenticate"]
    assert sink.commands == []


async def test_other_schemes_are_refused() -> None:
    async with http_client(build_test_app(), key=None) as client:
        resp = await client.get("/v1/tasks", headers={"Authorization": "Basic dGVzdC1rZXk6"})
    assert_problem(resp, 401)


async def test_no_configured_keys_refuse_everyone() -> None:
    app = build_test_app(Settings(api_keys=""))
    async with http_client(app, key="") as client:
        resp = await client.get("/v1/tasks")
    assert_problem(resp, 401)


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics", "/openapi.json", "/docs"])
async def test_operational_endpoints_need_no_key(path: str) -> None:
    async with http_client(build_test_app(), key=None) as client:
        resp = await client.get(path)
    assert resp.status_code == 200
    assert resp.headers["content-type"] != PROBLEM_JSON


async def test_a_key_without_the_write_scope_is_403() -> None:
    class ReadOnly:
        async def lookup(self, key: str) -> Principal | None:
            return Principal("acme", frozenset({READ}), "k1") if key == "ro" else None

    sink = RecordingSink()
    adapters = Adapters(read_model=FakeReadModel(), commands=sink, keys=ReadOnly())
    app = create_app(Settings(), deps=adapters)
    async with http_client(app, key="ro") as client:
        assert (await client.get("/v1/tasks")).status_code == 200
        resp = await client.post("/v1/tasks", json={"type": "x"})
    assert_problem(resp, 403)
    assert sink.commands == []


async def test_static_keys_resolve_to_the_default_tenant_with_every_scope() -> None:
    store = StaticKeyStore.from_setting(" k1 , k2,,")
    assert len(store) == 2
    principal = await store.lookup("k2")
    assert principal is not None
    assert principal.tenant == "default"
    assert principal.can("tasks:write") and principal.can("tasks:read")
    assert "k2" not in principal.key_id
    assert await store.lookup("k3") is None
    assert await store.lookup("") is None
    assert await store.lookup("k1 ") is None
