"""Reads (one task, listing, events) and cancel, on a fake read model."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from api.schemas import TaskOut
from api.testing import (
    FakeReadModel,
    RecordingSink,
    assert_problem,
    build_test_app,
    http_client,
    task_state,
)
from taskstream.domain.commands import CANCEL_TASK
from taskstream.settings import Settings

SETTINGS = Settings(api_keys="test-key", page_size_default=10, page_size_max=50)


def event(task_id: str, version: int, type_: str, **payload: Any) -> dict[str, Any]:
    return {
        "event_id": f"{task_id}-{version}",
        "type": type_,
        "schema_version": 1,
        "task_id": task_id,
        "version": version,
        "occurred_at": "2026-01-01T12:00:00+00:00",
        "causation_id": "c1",
        "correlation_id": None,
        "tenant": "default",
        "payload": payload,
        "partition": 3,
        "offset": 17,
    }


def same_tasks(got: list[dict[str, Any]], want: list[dict[str, Any]]) -> bool:
    """Equal as tasks (timestamps may be spelled `Z` or `+00:00`)."""
    return [TaskOut.model_validate(t) for t in got] == [TaskOut.model_validate(t) for t in want]


@pytest.fixture
def read_model() -> FakeReadModel:
    rm = FakeReadModel()
    rm.add(task_state("t1", status="succeeded"), [event("t1", 1, "task.submitted")])
    rm.add(task_state("t2", queue="emails", type="mail.send"))
    rm.add(task_state("t3", tenant="other"))
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


async def test_get_task_returns_its_state(client: httpx.AsyncClient) -> None:
    resp = await client.get("/v1/tasks/t1")
    assert resp.status_code == 200
    assert same_tasks([resp.json()], [task_state("t1", status="succeeded")])


async def test_unknown_task_is_404_naming_id_and_tenant(client: httpx.AsyncClient) -> None:
    body = assert_problem(await client.get("/v1/tasks/nope"), 404)
    assert body["detail"] == (
        "no task nope in tenant default; a task submitted a moment ago may not be projected yet"
    )


async def test_another_tenants_task_is_not_found(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/v1/tasks/t3"), 404)


async def test_list_uses_the_default_page_size_and_the_filters(
    client: httpx.AsyncClient, read_model: FakeReadModel
) -> None:
    read_model.next_cursor = "c1"
    resp = await client.get("/v1/tasks", params={"queue": "emails", "type": "mail.send"})
    assert resp.status_code == 200
    page = resp.json()
    assert same_tasks(page["items"], [task_state("t2", queue="emails", type="mail.send")])
    assert page["next_cursor"] == "c1"
    assert read_model.list_calls[-1] == {
        "tenant": "default",
        "status": None,
        "queue": "emails",
        "type": "mail.send",
        "limit": 10,
        "cursor": None,
    }


async def test_list_by_status(client: httpx.AsyncClient, read_model: FakeReadModel) -> None:
    resp = await client.get("/v1/tasks", params={"status": "succeeded", "limit": 50})
    assert [t["id"] for t in resp.json()["items"]] == ["t1"]
    assert read_model.list_calls[-1]["limit"] == 50


async def test_limit_over_the_max_names_limit_and_the_max(client: httpx.AsyncClient) -> None:
    body = assert_problem(await client.get("/v1/tasks", params={"limit": 51}), 422)
    assert body["errors"] == [{"field": "limit", "message": "must be ≤ 50", "limit": 50}]


@pytest.mark.parametrize("limit", ["0", "-3", "ten"])
async def test_limit_must_be_a_positive_integer(client: httpx.AsyncClient, limit: str) -> None:
    body = assert_problem(await client.get("/v1/tasks", params={"limit": limit}), 422)
    assert body["errors"][0]["field"] == "limit"


async def test_invalid_status_lists_the_valid_ones(client: httpx.AsyncClient) -> None:
    body = assert_problem(await client.get("/v1/tasks", params={"status": "done"}), 422)
    (error,) = body["errors"]
    assert error["field"] == "status"
    for status in ("scheduled", "pending", "running", "succeeded", "dead", "cancelled"):
        assert status in error["message"]


async def test_bad_cursor_names_cursor(client: httpx.AsyncClient) -> None:
    body = assert_problem(await client.get("/v1/tasks", params={"cursor": "garbage"}), 422)
    assert [e["field"] for e in body["errors"]] == ["cursor"]


async def test_events_of_a_task(client: httpx.AsyncClient) -> None:
    resp = await client.get("/v1/tasks/t1/events")
    assert resp.status_code == 200
    (item,) = resp.json()["items"]
    assert item["type"] == "task.submitted"
    assert item["offset"] == 17  # read-model extras pass through


async def test_events_of_an_unknown_task_are_404(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/v1/tasks/nope/events"), 404)


async def test_a_refused_submit_shows_its_rejection(
    client: httpx.AsyncClient, read_model: FakeReadModel
) -> None:
    read_model.events[("default", "t9")] = [event("t9", 0, "command.rejected", reason="bad")]
    resp = await client.get("/v1/tasks/t9/events")
    assert resp.status_code == 200
    assert resp.json()["items"][0]["type"] == "command.rejected"


async def test_cancel_appends_one_command(client: httpx.AsyncClient, sink: RecordingSink) -> None:
    resp = await client.post(
        "/v1/tasks/t2/cancel", json={"reason": "duplicate"}, headers={"X-Correlation-ID": "c9"}
    )
    assert resp.status_code == 202, resp.text
    (cmd,) = sink.commands
    assert (cmd.type, cmd.task_id, cmd.payload) == (CANCEL_TASK, "t2", {"reason": "duplicate"})
    assert cmd.correlation_id == "c9"
    assert resp.json()["command_id"] == cmd.event_id


async def test_cancel_without_a_body(client: httpx.AsyncClient, sink: RecordingSink) -> None:
    resp = await client.post("/v1/tasks/t2/cancel")
    assert resp.status_code == 202, resp.text
    assert sink.commands[0].payload == {"reason": ""}


async def test_cancel_of_an_unknown_task_is_404_and_writes_nothing(
    client: httpx.AsyncClient, sink: RecordingSink
) -> None:
    assert_problem(await client.post("/v1/tasks/nope/cancel"), 404)
    assert sink.commands == []


async def test_cancel_refuses_unknown_fields(
    client: httpx.AsyncClient, sink: RecordingSink
) -> None:
    body = assert_problem(await client.post("/v1/tasks/t2/cancel", json={"why": "x"}), 422)
    assert body["errors"] == [{"field": "why", "message": "unknown field"}]
    assert sink.commands == []
