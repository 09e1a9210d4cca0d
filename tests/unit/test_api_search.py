"""`GET /v1/search` on a recording backend: scoping, validation, paging, errors."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi import FastAPI

from api.app import create_app
from api.auth import StaticKeyStore
from api.ports import Adapters
from api.testing import TEST_KEY, FakeReadModel, RecordingSink, assert_problem, http_client
from projections.search.backend import (
    SearchHit,
    SearchPage,
    SearchQuery,
    SearchUnavailable,
)
from projections.search.es_query import UnsupportedFilter
from taskstream.settings import Settings

SETTINGS = Settings(
    api_keys=TEST_KEY, page_size_default=10, page_size_max=50, search_q_max_chars=20
)
HIT = SearchHit(
    kind="tasks",
    task_id="t1",
    type="mail.send",
    status="dead",
    queue="emails",
    score=0.5,
    snippet="<mark>mailbox</mark> unavailable",
    at=datetime(2026, 11, 27, 8, tzinfo=UTC),
)


class Recording:
    """A backend that records each query and answers a fixed page (or raises)."""

    name = "recording"

    def __init__(self) -> None:
        self.queries: list[SearchQuery] = []
        self.error: Exception | None = None

    async def search(self, query: SearchQuery) -> SearchPage:
        self.queries.append(query)
        if self.error is not None:
            raise self.error
        if query.cursor == "bad":
            raise ValueError("cursor")
        return SearchPage([HIT], "next-1", self.name)


def app_with(backend: Recording | None) -> FastAPI:
    adapters = Adapters(
        read_model=FakeReadModel(),
        commands=RecordingSink(),
        keys=StaticKeyStore.from_setting(SETTINGS.api_keys),
        search=backend,
    )
    return create_app(SETTINGS, deps=adapters)


@pytest.fixture
def backend() -> Recording:
    return Recording()


async def test_search_passes_the_callers_tenant_and_filters(backend: Recording) -> None:
    async with http_client(app_with(backend)) as client:
        resp = await client.get(
            "/v1/search",
            params={
                "q": "mailbox",
                "kind": "logs",
                "queue": "emails",
                "type": "mail.send",
                "since": "2026-11-01T00:00:00Z",
                "limit": 5,
                "cursor": "c0",
            },
        )
    assert resp.status_code == 200, resp.text
    assert resp.json() == {
        "items": [
            {
                "kind": "tasks",
                "task_id": "t1",
                "type": "mail.send",
                "status": "dead",
                "queue": "emails",
                "score": 0.5,
                "snippet": "<mark>mailbox</mark> unavailable",
                "at": "2026-11-27T08:00:00Z",
                "attempt": None,
                "seq": None,
                "level": None,
            }
        ],
        "next_cursor": "next-1",
        "backend": "recording",
    }
    assert backend.queries == [
        SearchQuery(
            q="mailbox",
            tenant="default",
            kind="logs",
            queue="emails",
            type="mail.send",
            since=datetime(2026, 11, 1, tzinfo=UTC),
            limit=5,
            cursor="c0",
        )
    ]


async def test_search_needs_a_key(backend: Recording) -> None:
    async with http_client(app_with(backend), key=None) as client:
        assert_problem(await client.get("/v1/search", params={"q": "x"}), 401)
    assert backend.queries == []


@pytest.mark.parametrize(
    ("params", "field", "limit"),
    [
        ({}, "q", None),
        ({"q": "x" * 21}, "q", 20),
        ({"q": "   "}, "q", None),
        ({"q": "x", "limit": 51}, "limit", 50),
        ({"q": "x", "kind": "events"}, "kind", None),
        ({"q": "x", "status": "lost"}, "status", None),
        ({"q": "x", "since": "2026-11-01T00:00:00"}, "since", None),
        (
            {"q": "x", "since": "2026-11-02T00:00:00Z", "until": "2026-11-01T00:00:00Z"},
            "until",
            None,
        ),
        ({"q": "x", "cursor": "bad"}, "cursor", None),
        ({"q": "x\x00y"}, "q", None),
        ({"q": "x", "queue": "a\x00"}, "queue", None),
    ],
)
async def test_bad_input_is_a_problem_naming_the_field(
    backend: Recording, params: dict[str, object], field: str, limit: int | None
) -> None:
    async with http_client(app_with(backend)) as client:
        body = assert_problem(await client.get("/v1/search", params=params), 422)
    assert [e["field"] for e in body["errors"]] == [field]
    assert body["errors"][0].get("limit") == limit


async def test_a_filter_the_backend_cannot_apply_names_the_field(backend: Recording) -> None:
    backend.error = UnsupportedFilter("status", "cannot filter log lines by task status")
    async with http_client(app_with(backend)) as client:
        body = assert_problem(
            await client.get("/v1/search", params={"q": "x", "kind": "logs", "status": "dead"}), 422
        )
    assert body["errors"] == [
        {"field": "status", "message": "cannot filter log lines by task status"}
    ]


async def test_an_unreachable_engine_is_503(backend: Recording) -> None:
    backend.error = SearchUnavailable("elasticsearch unreachable: refused")
    async with http_client(app_with(backend)) as client:
        body = assert_problem(await client.get("/v1/search", params={"q": "x"}), 503)
    assert body["detail"] == "elasticsearch unreachable: refused"
    async with http_client(app_with(None)) as client:
        assert_problem(await client.get("/v1/search", params={"q": "x"}), 503)


async def test_openapi_documents_the_search_with_examples() -> None:
    doc = app_with(None).openapi()
    op = doc["paths"]["/v1/search"]["get"]
    params = {p["name"]: p for p in op["parameters"]}
    assert params["q"]["required"] is True
    assert set(params["q"]["examples"]) == {"words", "phrase", "or"}
    assert {"kind", "status", "queue", "type", "since", "until", "limit", "cursor"} <= set(params)
    assert {"422", "503"} <= set(op["responses"])
    hit = doc["components"]["schemas"]["SearchHitOut"]
    assert hit["examples"][0]["snippet"].startswith("send_email")
