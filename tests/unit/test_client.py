"""`taskstream.Client` over REST: requests it sends, problems it raises, waiting."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from api.testing import TEST_KEY, FakeReadModel, RecordingSink, build_test_app, task_state
from taskstream import Client, TaskstreamAPIError
from taskstream.domain.commands import SubmitTask
from taskstream.settings import Settings

Handler = Callable[[httpx.Request], httpx.Response]


def mock(handler: Handler, **options: Any) -> Client:
    return Client.rest("http://api.test/", "k", transport=httpx.MockTransport(handler), **options)


PROBLEM = {
    "type": "urn:taskstream:problem:validation",
    "title": "Invalid request",
    "status": 422,
    "detail": "1 field is invalid: priority must be ≤ 9",
    "errors": [{"field": "priority", "message": "must be ≤ 9", "limit": 9}],
}


async def test_submit_sends_the_rest_body_and_returns_the_id() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(202, json={"id": "t-1", "command_id": "c-1", "links": {}})

    async with mock(handler) as client:
        task_id = await client.submit(
            "emails.send",
            {"to": "ada"},
            queue="emails",
            priority=7,
            delay=timedelta(minutes=1),
            timeout=30,
            labels={"team": "core"},
            idempotency_key="order-1",
        )
    assert task_id == "t-1"
    (request,) = seen
    assert str(request.url) == "http://api.test/v1/tasks"
    assert request.headers["authorization"] == "Bearer k"
    assert json.loads(request.content) == {
        "type": "emails.send",
        "payload": {"to": "ada"},
        "queue": "emails",
        "labels": {"team": "core"},
        "priority": 7,
        "timeout_seconds": 30.0,
        "delay_seconds": 60.0,
        "idempotency_key": "order-1",
    }


async def test_problem_details_become_an_api_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            422, json=PROBLEM, headers={"content-type": "application/problem+json"}
        )

    async with mock(handler) as client:
        with pytest.raises(TaskstreamAPIError) as caught:
            await client.submit("x", priority=10)
    error = caught.value
    assert (error.status, error.title) == (422, "Invalid request")
    assert error.detail == PROBLEM["detail"]
    assert error.errors == PROBLEM["errors"]
    assert "priority" in str(error)


async def test_a_non_json_error_keeps_status_and_text() -> None:
    async with mock(lambda r: httpx.Response(502, text="bad gateway")) as client:
        with pytest.raises(TaskstreamAPIError) as caught:
            await client.cancel("t-1")
    assert (caught.value.status, caught.value.detail, caught.value.errors) == (
        502,
        "bad gateway",
        [],
    )


async def test_submit_many_sends_batches_of_batch_size() -> None:
    batches: list[list[dict[str, Any]]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/v1/tasks:batch"
        tasks = json.loads(request.content)["tasks"]
        batches.append(tasks)
        return httpx.Response(202, json={"items": [{"id": t["payload"]} for t in tasks]})

    async with mock(handler, batch_size=2) as client:
        ids = await client.submit_many({"type": "x", "payload": f"p{i}"} for i in range(5))
        assert await client.submit_many([]) == []
    assert ids == [f"p{i}" for i in range(5)]
    assert [len(b) for b in batches] == [2, 2, 1]


async def test_unknown_task_options_are_refused_before_sending() -> None:
    async with mock(lambda r: httpx.Response(500)) as client:
        with pytest.raises(TypeError, match="prio"):
            await client.submit_many([{"type": "x", "prio": 1}])


async def test_wait_polls_through_404_until_a_final_status() -> None:
    answers = iter(
        [
            (404, {"status": 404, "title": "Task not found"}),
            (200, {"status": "pending"}),
            (200, {"status": "succeeded"}),
        ]
    )

    def handler(request: httpx.Request) -> httpx.Response:
        status, body = next(answers)
        return httpx.Response(status, json=body)

    async with mock(handler) as client:
        task = await client.wait("t-1", timeout=5, poll=0.001)
    assert task == {"status": "succeeded"}


async def test_wait_gives_up_after_the_timeout() -> None:
    async with mock(lambda r: httpx.Response(200, json={"status": "running"})) as client:
        with pytest.raises(TimeoutError, match="t-1"):
            await client.wait("t-1", timeout=0.01, poll=0.001)


async def test_reads_need_the_rest_api() -> None:
    client = Client.kafka("127.0.0.1:1")
    with pytest.raises(TypeError, match="REST"):
        await client.get("t-1")


async def test_against_the_real_app_on_fakes() -> None:
    sink, reads = RecordingSink(), FakeReadModel()
    reads.add(task_state("t-9", status="succeeded"))
    app = build_test_app(read_model=reads, sink=sink)
    client = Client.rest("http://testserver", TEST_KEY, transport=httpx.ASGITransport(app=app))
    async with client:
        first = await client.submit("x", run_at=datetime(2030, 1, 1, tzinfo=UTC))
        batch = await client.submit_many([{"type": "y"}, {"type": "z", "priority": 1}])
        assert (await client.wait("t-9"))["status"] == "succeeded"
        with pytest.raises(TaskstreamAPIError) as caught:
            await client.submit_many([{"type": "y"}, {"type": "z", "priority": 12}])
    assert [c.task_id for c in sink.commands] == [first, *batch]
    assert SubmitTask.model_validate(sink.commands[0].payload).run_at == datetime(
        2030, 1, 1, tzinfo=UTC
    )
    assert caught.value.errors == [
        {"field": "tasks[1].priority", "message": "must be ≤ 9", "limit": 9}
    ]


def test_import_taskstream_stays_light() -> None:
    code = "import sys, taskstream; print(sorted({'httpx', 'aiokafka'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"priority": 10}, "priority"),
        ({"queue": "no spaces"}, "queue"),
        ({"payload": "a" * 200}, "at most 100"),
        ({"run_at": datetime(2030, 1, 1), "delay": 1}, "not both"),
    ],
)
async def test_kafka_mode_refuses_before_producing(options: dict[str, Any], match: str) -> None:
    client = Client.kafka("127.0.0.1:1", settings=Settings(max_payload_bytes=100))
    with pytest.raises(ValueError, match=match):
        await client.submit("x", **options)
