"""POST /v1/tasks: validation, limits, the appended command, broker failures."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from api.ports import CommandLogUnavailable
from api.schemas import SubmitTaskRequest
from api.testing import (
    FIXED_NOW,
    TEST_KEY,
    FakeReadModel,
    RecordingSink,
    assert_problem,
    build_test_app,
)
from taskstream.domain.commands import SUBMIT_TASK, SubmitTask
from taskstream.settings import Settings

AUTH = {"Authorization": f"Bearer {TEST_KEY}"}
SETTINGS = Settings(
    api_keys=TEST_KEY, max_payload_bytes=1000, max_body_bytes=4000, default_max_attempts=4
)


@pytest.fixture
def sink() -> RecordingSink:
    return RecordingSink()


@pytest.fixture
async def client(sink: RecordingSink) -> AsyncIterator[httpx.AsyncClient]:
    app = build_test_app(SETTINGS, read_model=FakeReadModel(), sink=sink)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


async def test_accepted_with_location_and_exactly_one_command(
    client: httpx.AsyncClient, sink: RecordingSink
) -> None:
    body = {"type": "demo.echo", "payload": {"n": 1}, "queue": "emails", "priority": 9}
    resp = await client.post("/v1/tasks", json=body, headers={**AUTH, "X-Correlation-ID": "corr-1"})
    assert resp.status_code == 202, resp.text
    out = resp.json()
    assert out["status"] == "accepted"
    assert out["links"]["self"] == f"/v1/tasks/{out['id']}"
    assert resp.headers["location"] == f"/v1/tasks/{out['id']}"
    (cmd,) = sink.commands
    assert cmd.type == SUBMIT_TASK
    assert cmd.task_id == out["id"]
    assert cmd.event_id == out["command_id"]
    assert cmd.tenant == "default"
    assert cmd.correlation_id == "corr-1"
    assert SubmitTask.model_validate(cmd.payload) == SubmitTask(
        type="demo.echo", payload={"n": 1}, queue="emails", priority=9
    )


async def test_omitted_fields_stay_omitted_for_the_scheduler_to_resolve(
    client: httpx.AsyncClient, sink: RecordingSink
) -> None:
    # Explicit > the task type's default > the global one: only the scheduler knows the
    # types' defaults, so the API must not fill in the global ones (domain/defaults.py).
    resp = await client.post("/v1/tasks", json={"type": "demo.echo"}, headers=AUTH)
    assert resp.status_code == 202
    payload = sink.commands[0].payload
    assert payload["payload"] is None
    for name in ("queue", "priority", "max_attempts", "timeout_seconds", "run_at"):
        assert payload[name] is None, name


async def test_delay_becomes_run_at_at_the_edge(
    client: httpx.AsyncClient, sink: RecordingSink
) -> None:
    resp = await client.post("/v1/tasks", json={"type": "x", "delay_seconds": 90}, headers=AUTH)
    assert resp.status_code == 202
    run_at = SubmitTask.model_validate(sink.commands[0].payload).run_at
    assert run_at == FIXED_NOW + timedelta(seconds=90)


async def test_run_at_keeps_its_offset_as_an_instant(
    client: httpx.AsyncClient, sink: RecordingSink
) -> None:
    resp = await client.post(
        "/v1/tasks", json={"type": "x", "run_at": "2026-01-01T14:00:00+02:00"}, headers=AUTH
    )
    assert resp.status_code == 202
    assert SubmitTask.model_validate(sink.commands[0].payload).run_at == FIXED_NOW


@pytest.mark.parametrize(
    ("body", "field", "limit"),
    [
        ({"type": "x", "priority": 10}, "priority", 9),
        ({"type": "x", "priority": -1}, "priority", 0),
        ({"type": "x", "max_attempts": 0}, "max_attempts", 1),
        ({"type": "x", "max_attempts": 101}, "max_attempts", 100),
        ({"type": "x", "timeout_seconds": 0}, "timeout_seconds", 0),
        ({"type": "x" * 201}, "type", 200),
        ({"type": ""}, "type", 1),
        ({"type": "x", "delay_seconds": -1}, "delay_seconds", 0),
        ({"type": "x", "labels": {str(i): "v" for i in range(65)}}, "labels", 64),
    ],
)
async def test_out_of_range_names_field_and_limit(
    client: httpx.AsyncClient, sink: RecordingSink, body: dict[str, Any], field: str, limit: Any
) -> None:
    out = assert_problem(await client.post("/v1/tasks", json=body, headers=AUTH), 422)
    assert out["errors"] == [
        {"field": field, "message": out["errors"][0]["message"], "limit": limit}
    ]
    assert field in out["detail"]
    assert sink.commands == []


async def test_priority_message_states_the_bound(client: httpx.AsyncClient) -> None:
    out = assert_problem(
        await client.post("/v1/tasks", json={"type": "x", "priority": 10}, headers=AUTH), 422
    )
    assert out["errors"] == [{"field": "priority", "message": "must be ≤ 9", "limit": 9}]
    assert out["type"] == "urn:taskstream:problem:validation"
    assert out["instance"] == "/v1/tasks"


async def test_unknown_fields_are_refused_by_name(
    client: httpx.AsyncClient, sink: RecordingSink
) -> None:
    out = assert_problem(
        await client.post("/v1/tasks", json={"type": "x", "prio": 3}, headers=AUTH), 422
    )
    assert out["errors"] == [{"field": "prio", "message": "unknown field"}]
    assert sink.commands == []


async def test_several_errors_are_all_reported(client: httpx.AsyncClient) -> None:
    body = {"priority": 12, "queue": "no spaces", "extra": 1}
    out = assert_problem(await client.post("/v1/tasks", json=body, headers=AUTH), 422)
    fields = {e["field"] for e in out["errors"]}
    assert fields == {"type", "priority", "queue", "extra"}
    missing = next(e for e in out["errors"] if e["field"] == "type")
    assert missing["message"] == "required"


async def test_nested_field_paths_are_dotted(client: httpx.AsyncClient) -> None:
    out = assert_problem(
        await client.post("/v1/tasks", json={"type": "x", "labels": {"a": 1}}, headers=AUTH), 422
    )
    assert out["errors"][0]["field"] == "labels.a"


async def test_naive_run_at_is_refused(client: httpx.AsyncClient) -> None:
    body = {"type": "x", "run_at": "2026-01-01T12:00:00"}
    out = assert_problem(await client.post("/v1/tasks", json=body, headers=AUTH), 422)
    assert out["errors"][0]["field"] == "run_at"
    assert "offset" in out["errors"][0]["message"]


async def test_run_at_and_delay_together_are_refused(
    client: httpx.AsyncClient, sink: RecordingSink
) -> None:
    body = {"type": "x", "run_at": "2026-01-01T12:00:00Z", "delay_seconds": 5}
    out = assert_problem(await client.post("/v1/tasks", json=body, headers=AUTH), 422)
    assert out["errors"] == [
        {"field": "delay_seconds", "message": "cannot be combined with run_at"}
    ]
    assert sink.commands == []


async def test_malformed_json_and_non_object_bodies(client: httpx.AsyncClient) -> None:
    bad = await client.post(
        "/v1/tasks", content=b"{nope", headers={**AUTH, "Content-Type": "application/json"}
    )
    assert_problem(bad, 422)
    out = assert_problem(await client.post("/v1/tasks", json=[1, 2], headers=AUTH), 422)
    assert out["errors"][0]["field"] == "body"


async def test_payload_over_the_limit_is_413_naming_payload(
    client: httpx.AsyncClient, sink: RecordingSink
) -> None:
    body = {"type": "x", "payload": {"blob": "a" * 1000}}
    out = assert_problem(await client.post("/v1/tasks", json=body, headers=AUTH), 413)
    assert out["errors"] == [
        {"field": "payload", "message": "must be at most 1000 bytes as JSON", "limit": 1000}
    ]
    assert "1000" in out["detail"]
    assert sink.commands == []


async def test_payload_at_the_limit_is_accepted(
    client: httpx.AsyncClient, sink: RecordingSink
) -> None:
    blob = "a" * (1000 - len('{"b":""}'))
    resp = await client.post("/v1/tasks", json={"type": "x", "payload": {"b": blob}}, headers=AUTH)
    assert resp.status_code == 202, resp.text
    assert len(sink.commands) == 1


async def test_declared_body_over_the_limit_is_413(
    client: httpx.AsyncClient, sink: RecordingSink
) -> None:
    body = b'{"type": "x", "payload": "' + b"a" * 5000 + b'"}'
    out = assert_problem(
        await client.post(
            "/v1/tasks", content=body, headers={**AUTH, "Content-Type": "application/json"}
        ),
        413,
    )
    assert out["errors"] == [
        {"field": "body", "message": "must be at most 4000 bytes", "limit": 4000}
    ]
    assert sink.commands == []


class Chunks:
    """A streamed body of `count` chunks that counts how many were pulled."""

    def __init__(self, count: int, size: int) -> None:
        self.count = count
        self.size = size
        self.pulled = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield b'{"type": "x", "payload": "'
        for _ in range(self.count):
            self.pulled += 1
            yield b"a" * self.size
        yield b'"}'


async def test_streamed_body_is_cut_off_once_past_the_limit(sink: RecordingSink) -> None:
    app = build_test_app(SETTINGS, sink=sink)
    chunks = Chunks(count=100, size=1000)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        resp = await client.post(
            "/v1/tasks",
            content=chunks.__aiter__(),
            headers={**AUTH, "Content-Type": "application/json"},
        )
    assert "content-length" not in resp.request.headers
    assert_problem(resp, 413)
    assert chunks.pulled <= 5
    assert sink.commands == []


async def test_declared_length_is_refused_before_reading(sink: RecordingSink) -> None:
    app = build_test_app(SETTINGS, sink=sink)
    chunks = Chunks(count=10, size=1000)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        resp = await client.post(
            "/v1/tasks",
            content=chunks.__aiter__(),
            headers={**AUTH, "Content-Type": "application/json", "Content-Length": "10028"},
        )
    assert_problem(resp, 413)
    assert chunks.pulled == 0


async def test_streamed_body_within_the_limit_is_replayed(sink: RecordingSink) -> None:
    app = build_test_app(SETTINGS, sink=sink)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        resp = await client.post(
            "/v1/tasks",
            content=Chunks(count=3, size=100).__aiter__(),
            headers={**AUTH, "Content-Type": "application/json"},
        )
    assert resp.status_code == 202, resp.text
    assert sink.commands[0].payload["payload"] == "a" * 300


@pytest.mark.parametrize(
    ("written", "phrase"), [(False, "nothing was written"), (None, "may or may not")]
)
async def test_unreachable_broker_is_503(
    client: httpx.AsyncClient, sink: RecordingSink, written: bool | None, phrase: str
) -> None:
    sink.fail = CommandLogUnavailable("broker down", written=written)
    out = assert_problem(await client.post("/v1/tasks", json={"type": "x"}, headers=AUTH), 503)
    assert phrase in out["detail"]
    assert "broker down" not in out["detail"]


async def test_idempotency_key_names_the_same_task(
    client: httpx.AsyncClient, sink: RecordingSink
) -> None:
    headers = {**AUTH, "Idempotency-Key": "order-77"}
    first = (await client.post("/v1/tasks", json={"type": "x"}, headers=headers)).json()
    second = (await client.post("/v1/tasks", json={"type": "x"}, headers=headers)).json()
    other = (await client.post("/v1/tasks", json={"type": "x"}, headers=AUTH)).json()
    assert first["id"] == second["id"] != other["id"]
    assert sink.commands[0].event_id == sink.commands[1].event_id


def test_request_limits_match_the_domain_model() -> None:
    """The REST schema repeats SubmitTask's limits for the docs; keep them equal."""
    for name, domain_field in SubmitTask.model_fields.items():
        rest_field = SubmitTaskRequest.model_fields[name]
        assert repr(rest_field.metadata) == repr(domain_field.metadata), name
