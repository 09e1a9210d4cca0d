"""`/v1/dlq` and `/v1/tasks/{id}/redrive` on a fake read model."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from api.ports import CommandLogUnavailable
from api.testing import (
    FakeReadModel,
    RecordingSink,
    assert_problem,
    build_test_app,
    http_client,
    task_state,
)
from taskstream.domain.commands import REDRIVE_TASK
from taskstream.settings import Settings

SETTINGS = Settings(api_keys="test-key", page_size_default=2, page_size_max=3)
FAILED = {
    "number": 1,
    "worker": "w",
    "started_at": "2026-01-01T12:00:00+00:00",
    "finished_at": "2026-01-01T12:00:01+00:00",
    "error": "RuntimeError: boom",
    "traceback": "Traceback (most recent call last): ...",
    "outcome": "failed",
}


@pytest.fixture
def read_model() -> FakeReadModel:
    rm = FakeReadModel()
    for i in range(5):
        rm.add(task_state(f"d{i}", status="dead", queue="q1" if i < 4 else "q2", attempts=[FAILED]))
    rm.add(task_state("alive", status="running"))
    rm.add(task_state("theirs", tenant="other", status="dead"))
    return rm


@pytest.fixture
def sink() -> RecordingSink:
    return RecordingSink()


@pytest.fixture
async def client(
    read_model: FakeReadModel, sink: RecordingSink
) -> AsyncIterator[httpx.AsyncClient]:
    async with http_client(build_test_app(SETTINGS, read_model=read_model, sink=sink)) as c:
        yield c


async def test_dlq_lists_only_dead_tasks_of_the_tenant_with_their_errors(
    client: httpx.AsyncClient, read_model: FakeReadModel
) -> None:
    resp = await client.get("/v1/dlq", params={"queue": "q2"})
    assert resp.status_code == 200, resp.text
    (only,) = resp.json()["items"]
    assert only["id"] == "d4" and only["attempts"][0]["traceback"].startswith("Traceback")
    assert read_model.list_calls[-1]["status"] == "dead"
    assert_problem(await client.get("/v1/dlq", params={"limit": 4}), 422)


async def test_redrive_by_ids_appends_one_command_each_and_names_the_unknown(
    client: httpx.AsyncClient, sink: RecordingSink
) -> None:
    body = {"ids": ["d0", "d1", "d0", "theirs"], "reason": "fixed"}
    resp = await client.post("/v1/dlq/redrive", json=body)
    assert resp.status_code == 202, resp.text
    assert resp.json()["ids"] == ["d0", "d1"] and resp.json()["not_found"] == ["theirs"]
    assert [(c.type, c.task_id, c.payload) for c in sink.commands] == [
        (REDRIVE_TASK, "d0", {"reason": "fixed"}),
        (REDRIVE_TASK, "d1", {"reason": "fixed"}),
    ]


async def test_redrive_by_filter_is_capped_and_says_there_is_more(
    client: httpx.AsyncClient, sink: RecordingSink, read_model: FakeReadModel
) -> None:
    read_model.next_cursor = "c1"
    resp = await client.post("/v1/dlq/redrive", json={"queue": "q1"})
    assert resp.status_code == 202, resp.text
    assert len(resp.json()["ids"]) == 3 and resp.json()["more"] is True
    assert {c.task_id for c in sink.commands} <= {"d0", "d1", "d2", "d3"}


async def test_redrive_needs_ids_or_a_filter_within_the_limit(client: httpx.AsyncClient) -> None:
    for body in ({}, {"ids": ["d0"], "queue": "q1"}, {"ids": ["a", "b", "c", "d"]}):
        problem = assert_problem(await client.post("/v1/dlq/redrive", json=body), 422)
        assert problem["errors"][0]["field"] == "ids"


async def test_redrive_one_task(client: httpx.AsyncClient, sink: RecordingSink) -> None:
    resp = await client.post("/v1/tasks/d3/redrive", json={"reason": "again"})
    assert resp.status_code == 202, resp.text
    assert resp.json()["command_id"] == sink.commands[0].event_id
    assert sink.commands[0].type == REDRIVE_TASK and sink.commands[0].task_id == "d3"
    assert_problem(await client.post("/v1/tasks/theirs/redrive"), 404)


async def test_redrive_when_the_log_is_down_is_503(
    client: httpx.AsyncClient, sink: RecordingSink
) -> None:
    sink.fail = CommandLogUnavailable("down", written=False)
    assert_problem(await client.post("/v1/tasks/d3/redrive"), 503)
    assert_problem(await client.post("/v1/dlq/redrive", json={"all": True}), 503)


def test_openapi_documents_the_dlq_routes() -> None:
    paths = build_test_app(SETTINGS).openapi()["paths"]
    assert "get" in paths["/v1/dlq"] and "post" in paths["/v1/dlq/redrive"]
    one = paths["/v1/tasks/{task_id}/redrive"]["post"]
    assert list(one["responses"]["404"]["content"]) == ["application/problem+json"]
