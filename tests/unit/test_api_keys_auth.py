"""Key format, scope and tenant checks, the chained store, the cached Postgres store, and
the scope and rate-limit dependencies."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from api.apikeys import encode_secret, format_key, new_key, parse_key
from api.app import create_app
from api.auth import (
    ADMIN,
    ALL_SCOPES,
    READ,
    WRITE,
    AuthInputError,
    ChainedKeyStore,
    Principal,
    StaticKeyStore,
    check_tenant,
    key_digest,
    parse_scopes,
)
from api.gcra import gcra
from api.keys_pg import PgKeyStore
from api.ports import Adapters
from api.ratelimit import RateLimiter
from api.testing import FakeReadModel, RecordingSink, assert_problem, http_client
from taskstream.settings import Settings


def test_new_keys_parse_back_to_their_id_and_secret() -> None:
    fresh = new_key()
    parsed = parse_key(format_key(fresh.key_id, fresh.secret))
    assert parsed == fresh
    assert len(fresh.secret) == 43 and len(fresh.key_id) == 16
    assert new_key() != fresh


@pytest.mark.parametrize(
    "key",
    [
        "",
        "static-dev-key",
        "tsk_short_" + "a" * 43,
        "tsk_ABCDEFGHIJKLMNOP_" + "a" * 43,  # ids are lower case
        "tsk_abcdefghijklmnop_" + "a" * 42,
        "tsk_abcdefghijklmnop_" + "a" * 43 + "\n",
        "tsk_abcdefghijklmnop_" + "a" * 42 + "=",
    ],
)
def test_other_strings_are_not_postgres_keys(key: str) -> None:
    assert parse_key(key) is None


def test_a_secret_is_exactly_32_bytes() -> None:
    assert len(encode_secret(b"\0" * 32)) == 43
    with pytest.raises(ValueError):
        encode_secret(b"\0" * 16)


def test_scopes_parse_from_a_list_or_a_comma_separated_string() -> None:
    assert parse_scopes("tasks:read, tasks:write,") == {READ, WRITE}
    assert parse_scopes([ADMIN]) == {ADMIN}
    with pytest.raises(AuthInputError, match="unknown scopes \\['tasks:delete'\\]"):
        parse_scopes("tasks:read,tasks:delete")
    with pytest.raises(AuthInputError, match="at least one scope"):
        parse_scopes(" , ")


@pytest.mark.parametrize("tenant", ["acme", "a", "team-7_eu", "0" * 63])
def test_valid_tenants(tenant: str) -> None:
    assert check_tenant(tenant) == tenant


@pytest.mark.parametrize("tenant", ["", "Acme", "-acme", "a b", "a/b", "0" * 64, "ä"])
def test_invalid_tenants_name_the_rule(tenant: str) -> None:
    with pytest.raises(AuthInputError, match="1-63 characters"):
        check_tenant(tenant)


def test_scopes_are_independent() -> None:
    admin_only = Principal("t", frozenset({ADMIN}), "k")
    assert admin_only.can(ADMIN) and not admin_only.can(READ) and not admin_only.can(WRITE)


async def test_static_keys_hold_every_scope_in_the_default_tenant() -> None:
    found = await StaticKeyStore.from_setting("dev").lookup("dev")
    assert found is not None and found.tenant == "default" and found.scopes == ALL_SCOPES


async def test_the_chain_asks_each_store_in_turn() -> None:
    class One:
        async def lookup(self, key: str) -> Principal | None:
            return Principal("acme", frozenset({READ}), "k1") if key == "one" else None

    chain = ChainedKeyStore(StaticKeyStore(["dev"]), One())
    assert (await chain.lookup("dev")).tenant == "default"  # type: ignore[union-attr]
    assert (await chain.lookup("one")).tenant == "acme"  # type: ignore[union-attr]
    assert await chain.lookup("nope") is None


class FakeRepo:
    """The rows `PgKeyStore` reads, in a dict; counts its queries."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Any]] = {}
        self.queries = 0
        self.touched: dict[str, datetime] = {}

    def add(self, tenant: str, scopes: list[str]) -> str:
        fresh = new_key()
        self.rows[fresh.key_id] = {
            "secret_sha256": key_digest(fresh.secret),
            "tenant": tenant,
            "scopes": scopes,
            "revoked_at": None,
        }
        return format_key(fresh.key_id, fresh.secret)

    async def secret_of(self, key_id: str) -> dict[str, Any] | None:
        self.queries += 1
        return self.rows.get(key_id)

    async def touch(self, used: dict[str, datetime]) -> None:
        self.touched.update(used)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_a_revoked_key_is_refused_once_the_cache_ttl_passes() -> None:
    repo, clock = FakeRepo(), Clock()
    store = PgKeyStore(repo, ttl=5.0, monotonic=clock)  # type: ignore[arg-type]
    key = repo.add("acme", [READ])
    key_id = parse_key(key).key_id  # type: ignore[union-attr]
    assert await store.lookup(key) == Principal("acme", frozenset({READ}), key_id)
    repo.rows[key_id]["revoked_at"] = datetime(2026, 1, 1, tzinfo=UTC)
    clock.now += 4.9
    assert await store.lookup(key) is not None  # cached: at most ttl seconds stale
    assert repo.queries == 1
    clock.now += 0.2
    assert await store.lookup(key) is None
    assert repo.queries == 2


async def test_a_wrong_secret_for_a_real_id_is_refused_even_when_cached() -> None:
    repo = FakeRepo()
    store = PgKeyStore(repo, ttl=5.0)  # type: ignore[arg-type]
    key = repo.add("acme", [READ])
    assert await store.lookup(key) is not None
    forged = key[:-3] + ("AAA" if not key.endswith("AAA") else "BBB")
    assert await store.lookup(forged) is None
    assert await store.lookup("static-looking-key") is None
    assert repo.queries == 1


async def test_uses_are_written_in_one_batch_not_per_request() -> None:
    repo = FakeRepo()
    store = PgKeyStore(repo, ttl=5.0)  # type: ignore[arg-type]
    keys = [repo.add("acme", [READ]) for _ in range(3)]
    for key in keys * 10:
        await store.lookup(key)
    assert repo.touched == {}
    assert await store.flush_usage() == 3
    assert set(repo.touched) == {parse_key(k).key_id for k in keys}  # type: ignore[union-attr]
    assert await store.flush_usage() == 0


async def test_the_cache_is_bounded() -> None:
    repo = FakeRepo()
    store = PgKeyStore(repo, ttl=60.0, max_entries=10)  # type: ignore[arg-type]
    for _ in range(50):
        await store.lookup(repo.add("acme", [READ]))
    assert len(store._cache) <= 10


class Script:
    """The Lua script's contract, run by the pure GCRA on a fake clock (or failing)."""

    def __init__(self, *, fail: bool = False) -> None:
        self.fail = fail
        self.tats: dict[str, int] = {}

    async def __call__(self, keys: list[str], args: list[Any]) -> list[int]:
        if self.fail:
            raise ConnectionError("redis down")
        d = gcra(self.tats.get(keys[0]), 0, interval=int(args[0]), burst=int(args[1]))
        if d.allowed:
            self.tats[keys[0]] = d.tat
        return [int(d.allowed), d.remaining, d.retry_after_us, d.reset_us]


def _app(script: Script, scopes: frozenset[str] = ALL_SCOPES) -> Any:
    class Keys:
        async def lookup(self, key: str) -> Principal | None:
            return Principal("acme", scopes, "k-" + key) if key.startswith("key") else None

    limiter = RateLimiter(script, rate=1.0, burst=2, timeout=1.0)
    adapters = Adapters(
        read_model=FakeReadModel(), commands=RecordingSink(), keys=Keys(), limiter=limiter
    )
    return create_app(Settings(), deps=adapters)


async def test_over_the_rate_a_key_gets_429_with_retry_after_and_others_pass() -> None:
    app = _app(Script())
    async with http_client(app, key="key-1") as client:
        first = await client.get("/v1/tasks")
        assert first.status_code == 200
        assert first.headers["RateLimit-Limit"] == "2"
        assert first.headers["RateLimit-Remaining"] == "1"
        assert (await client.get("/v1/tasks")).status_code == 200
        refused = await client.get("/v1/tasks")
    body = assert_problem(refused, 429)
    assert refused.headers["Retry-After"] == "1"
    assert body["limit"] == 2 and "key-1" in body["detail"]
    async with http_client(app, key="key-2") as other:
        assert (await other.get("/v1/tasks")).status_code == 200
    metrics = app.state.metrics.render().decode()
    assert "taskstream_api_rate_limited_total 1.0" in metrics


async def test_without_redis_requests_pass_and_are_counted() -> None:
    app = _app(Script(fail=True))
    async with http_client(app, key="key-1") as client:
        for _ in range(5):
            resp = await client.get("/v1/tasks")
            assert resp.status_code == 200 and "RateLimit-Limit" not in resp.headers
    metrics = app.state.metrics.render().decode()
    assert "taskstream_api_rate_limit_unavailable_total 5.0" in metrics


@pytest.mark.parametrize(
    ("scopes", "method", "path", "status"),
    [
        ({READ}, "POST", "/v1/tasks", 403),
        ({WRITE}, "GET", "/v1/tasks", 403),
        ({READ, WRITE}, "POST", "/v1/dlq/redrive", 403),
        ({READ, WRITE}, "GET", "/v1/admin/keys", 403),
        ({ADMIN}, "GET", "/v1/tasks", 403),
        ({ADMIN}, "GET", "/v1/admin/keys", 503),  # allowed; no key store in this app
    ],
)
async def test_each_route_asks_for_its_scope(
    scopes: set[str], method: str, path: str, status: int
) -> None:
    app = _app(Script(), frozenset(scopes))
    async with http_client(app, key="key-1") as client:
        resp = await client.request(method, path, json={"type": "x", "all": True})
    body = assert_problem(resp, status)
    if status == 403:
        assert body["scope"] in ALL_SCOPES and body["scope"] not in scopes
