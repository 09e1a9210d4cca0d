"""Health, readiness, metrics, the 500 guard, routing errors and the OpenAPI document."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from api.ports import CommandLogUnavailable
from api.problems import PROBLEM_JSON, field_errors
from api.testing import (
    FakeReadModel,
    RecordingSink,
    StaticProbe,
    assert_problem,
    build_test_app,
    http_client,
)


async def test_healthz() -> None:
    async with http_client(build_test_app(), key=None) as client:
        resp = await client.get("/healthz")
    assert resp.status_code == 200
    assert resp.json() == {"status": "ok"}


async def test_readyz_reports_each_check() -> None:
    app = build_test_app(probes=(StaticProbe("postgres"), StaticProbe("broker")))
    async with http_client(app, key=None) as client:
        resp = await client.get("/readyz")
    assert resp.status_code == 200
    assert resp.json() == {"status": "ready", "checks": {"postgres": "ok", "broker": "ok"}}


async def test_readyz_is_503_naming_what_fails() -> None:
    probes = (StaticProbe("postgres"), StaticProbe("broker", ConnectionError("refused")))
    async with http_client(build_test_app(probes=probes), key=None) as client:
        resp = await client.get("/readyz")
    body = assert_problem(resp, 503)
    assert body["checks"] == {"postgres": "ok", "broker": "ConnectionError: refused"}
    assert "broker" in body["detail"]


async def test_metrics_count_requests_by_route_and_commands() -> None:
    async with http_client(build_test_app()) as client:
        await client.post("/v1/tasks", json={"type": "x"})
        await client.get("/v1/tasks/abc")
        text = (await client.get("/metrics")).text
    assert 'taskstream_api_requests_total{method="POST",route="/v1/tasks",status="202"} 1.0' in text
    assert (
        'taskstream_api_requests_total{method="GET",route="/v1/tasks/{task_id}",status="404"} 1.0'
        in text
    )
    assert 'taskstream_api_commands_appended_total{type="task.submit"} 1.0' in text
    assert "taskstream_api_request_seconds_bucket" in text


async def test_unhandled_errors_are_500_problems_without_internals(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Broken(FakeReadModel):
        async def get_task(self, tenant: str, task_id: str) -> dict[str, Any] | None:
            raise RuntimeError("secret connection string")

    with caplog.at_level(logging.ERROR, logger="api.middleware"):
        async with http_client(build_test_app(read_model=Broken())) as client:
            resp = await client.get("/v1/tasks/t1")
    body = assert_problem(resp, 500)
    assert "secret" not in resp.text
    assert body["error_id"] in body["detail"]
    (record,) = [r for r in caplog.records if r.getMessage() == "unhandled error"]
    assert record.exc_info is not None
    assert record.__dict__["error_id"] == body["error_id"]


async def test_unknown_routes_and_methods_are_problems() -> None:
    async with http_client(build_test_app()) as client:
        missing = await client.get("/v2/nothing")
        wrong = await client.delete("/v1/tasks")
    assert_problem(missing, 404)
    assert_problem(wrong, 405)
    assert "POST" in wrong.headers["allow"]


async def test_a_503_from_the_log_is_counted_as_a_failure() -> None:
    sink = RecordingSink()
    sink.fail = CommandLogUnavailable("down", written=False)
    async with http_client(build_test_app(sink=sink)) as client:
        resp = await client.post("/v1/tasks", json={"type": "x"})
        text = (await client.get("/metrics")).text
    assert_problem(resp, 503)
    assert resp.headers["retry-after"] == "1"
    assert (
        'taskstream_api_command_append_failures_total{outcome="unwritten",type="task.submit"} 1.0'
        in text
    )


def test_openapi_documents_errors_as_problem_json_only() -> None:
    doc = build_test_app().openapi()
    submit = doc["paths"]["/v1/tasks"]["post"]
    for status in ("401", "413", "422", "503"):
        assert list(submit["responses"][status]["content"]) == [PROBLEM_JSON], status
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    assert submit["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/SubmitTaskRequest"
    }
    assert doc["components"]["schemas"]["SubmitTaskRequest"]["examples"]
    assert doc["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert "security" not in doc["paths"]["/healthz"]["get"]


def test_field_errors_strip_the_location_and_keep_the_limit() -> None:
    raw: list[dict[str, Any]] = [
        {"type": "less_than_equal", "loc": ("body", "priority"), "msg": "x", "ctx": {"le": 9}},
        {"type": "string_too_long", "loc": ("query", "q"), "msg": "x", "ctx": {"max_length": 5}},
        {"type": "value_error", "loc": ("body", "a", 0, "b"), "msg": "Value error, bad"},
        {"type": "missing", "loc": ("body",), "msg": "Field required"},
    ]
    assert [e.model_dump(exclude_none=True) for e in field_errors(raw)] == [
        {"field": "priority", "message": "must be ≤ 9", "limit": 9},
        {"field": "q", "message": "must be at most 5 characters", "limit": 5},
        {"field": "a[0].b", "message": "Value error, bad"},
        {"field": "body", "message": "required"},
    ]
