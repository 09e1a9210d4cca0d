"""POST /v1/tasks:batch (all or nothing), and the body's `idempotency_key` on single submits."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from api.ports import CommandLogUnavailable
from api.testing import TEST_KEY, FakeReadModel, RecordingSink, assert_problem, build_test_app
from taskstream.domain.commands import SUBMIT_TASK, SubmitTask
from taskstream.settings import Settings

AUTH = {"Authorization": f"Bearer {TEST_KEY}"}
SETTINGS = Settings(api_keys=TEST_KEY, max_payload_bytes=100, batch_max_tasks=5)
BATCH = "/v1/tasks:batch"


@pytest.fixture
def sink() -> RecordingSink:
    return RecordingSink()


@pytest.fixture
async def client(sink: RecordingSink) -> AsyncIterator[httpx.AsyncClient]:
    app = build_test_app(SETTINGS, read_model=FakeReadModel(), sink=sink)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", headers=AUTH
    ) as c:
        yield c


def tasks(*items: dict[str, Any]) -> dict[str, Any]:
    return {"tasks": list(items)}


async def test_every_task_is_accepted_in_request_order(
    client: httpx.AsyncClient, sink: RecordingSink
) -> None:
    body = tasks(*({"type": "demo.echo", "payload": {"i": i}, "priority": i} for i in range(5)))
    resp = await client.post(BATCH, json=body, headers={"X-Correlation-ID": "b-1"})
    assert resp.status_code == 202, resp.text
    items = resp.json()["items"]
    assert [i["id"] for i in items] == [c.task_id for c in sink.commands]
    assert [i["command_id"] for i in items] == [c.event_id for c in sink.commands]
    assert len({i["id"] for i in items}) == 5
    assert items[0]["links"]["self"] == f"/v1/tasks/{items[0]['id']}"
    for i, command in enumerate(sink.commands):
        assert command.type == SUBMIT_TASK
        assert command.correlation_id == "b-1"
        submit = SubmitTask.model_validate(command.payload)
        assert (submit.payload, submit.priority) == ({"i": i}, i)


async def test_an_invalid_item_names_its_index_and_writes_nothing(
    client: httpx.AsyncClient, sink: RecordingSink
) -> None:
    body = tasks({"type": "x"}, {"type": "x"}, {"type": "x", "priority": 10})
    out = assert_problem(await client.post(BATCH, json=body), 422)
    assert out["errors"] == [{"field": "tasks[2].priority", "message": "must be ≤ 9", "limit": 9}]
    assert "tasks[2].priority" in out["detail"]
    assert sink.commands == []


async def test_every_invalid_item_is_reported(client: httpx.AsyncClient) -> None:
    body = tasks({"type": ""}, {"type": "x"}, {"type": "x", "queue": "no spaces", "x": 1})
    out = assert_problem(await client.post(BATCH, json=body), 422)
    assert {e["field"] for e in out["errors"]} == {"tasks[0].type", "tasks[2].queue", "tasks[2].x"}


async def test_delay_with_run_at_in_an_item_is_refused(client: httpx.AsyncClient) -> None:
    item = {"type": "x", "delay_seconds": 5, "run_at": "2026-01-01T12:00:00Z"}
    out = assert_problem(await client.post(BATCH, json=tasks({"type": "x"}, item)), 422)
    assert out["errors"][0]["field"] == "tasks[1].delay_seconds"


async def test_a_payload_over_the_limit_is_413_naming_the_item(
    client: httpx.AsyncClient, sink: RecordingSink
) -> None:
    body = tasks({"type": "x"}, {"type": "x", "payload": "a" * 200})
    out = assert_problem(await client.post(BATCH, json=body), 413)
    assert out["errors"] == [
        {"field": "tasks[1].payload", "message": "must be at most 100 bytes as JSON", "limit": 100}
    ]
    assert sink.commands == []


async def test_a_batch_over_the_limit_is_413_naming_tasks(
    client: httpx.AsyncClient, sink: RecordingSink
) -> None:
    out = assert_problem(await client.post(BATCH, json=tasks(*[{"type": "x"}] * 6)), 413)
    assert out["errors"] == [{"field": "tasks", "message": "must have at most 5 items", "limit": 5}]
    assert "6" in out["detail"]
    assert sink.commands == []


async def test_an_empty_batch_is_refused(client: httpx.AsyncClient) -> None:
    out = assert_problem(await client.post(BATCH, json=tasks()), 422)
    assert out["errors"][0]["field"] == "tasks"


async def test_item_keys_name_the_same_tasks_as_single_submits(client: httpx.AsyncClient) -> None:
    body = tasks({"type": "x", "idempotency_key": "k1"}, {"type": "x"})
    first = (await client.post(BATCH, json=body)).json()["items"]
    again = (await client.post(BATCH, json=body)).json()["items"]
    assert first[0] == again[0]
    assert first[1]["id"] != again[1]["id"]
    single = await client.post("/v1/tasks", json={"type": "x"}, headers={"Idempotency-Key": "k1"})
    assert single.json()["id"] == first[0]["id"]
    assert single.json()["command_id"] == first[0]["command_id"]


async def test_a_key_repeated_within_a_batch_is_refused(
    client: httpx.AsyncClient, sink: RecordingSink
) -> None:
    item = {"type": "x", "idempotency_key": "same"}
    out = assert_problem(await client.post(BATCH, json=tasks(item, {"type": "x"}, item)), 422)
    assert out["errors"][0]["field"] == "tasks[2].idempotency_key"
    assert "tasks[0]" in out["errors"][0]["message"]
    assert sink.commands == []


async def test_unreachable_broker_is_503(client: httpx.AsyncClient, sink: RecordingSink) -> None:
    sink.fail = CommandLogUnavailable("down", written=False)
    out = assert_problem(await client.post(BATCH, json=tasks({"type": "x"}, {"type": "y"})), 503)
    assert "nothing was written" in out["detail"]


async def test_body_key_is_the_header_key(client: httpx.AsyncClient) -> None:
    by_header = await client.post("/v1/tasks", json={"type": "x"}, headers={"Idempotency-Key": "a"})
    by_body = await client.post("/v1/tasks", json={"type": "x", "idempotency_key": "a"})
    both = await client.post(
        "/v1/tasks", json={"type": "x", "idempotency_key": "a"}, headers={"Idempotency-Key": "a"}
    )
    assert by_header.json()["id"] == by_body.json()["id"] == both.json()["id"]


async def test_body_key_differing_from_the_header_is_refused(
    client: httpx.AsyncClient, sink: RecordingSink
) -> None:
    resp = await client.post(
        "/v1/tasks", json={"type": "x", "idempotency_key": "a"}, headers={"Idempotency-Key": "b"}
    )
    out = assert_problem(resp, 422)
    assert out["errors"][0]["field"] == "idempotency_key"
    assert sink.commands == []
