"""The REST API on the live embedded stack: submit, read, cancel, refuse, operate."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from taskstream.settings import Settings
from tests.integration.helpers import api, eventually

pytestmark = pytest.mark.integration
PROBLEM_JSON = "application/problem+json"


def marker() -> str:
    """A queue name no worker consumes: its tasks stay put, and it names this test's records."""
    return f"apitest-{uuid.uuid4().hex[:12]}"


async def get_json(client: httpx.AsyncClient, path: str, **params: Any) -> Any:
    resp = await client.get(path, params=params)
    assert resp.status_code == 200, resp.text
    return resp.json()


async def projected(client: httpx.AsyncClient, task_id: str, *statuses: str) -> dict[str, Any]:
    """Wait until the read model shows the task (in one of `statuses`, if given)."""

    async def probe() -> dict[str, Any] | None:
        resp = await client.get(f"/v1/tasks/{task_id}")
        if resp.status_code != 200:
            return None
        body: dict[str, Any] = resp.json()
        return body if not statuses or body["status"] in statuses else None

    found: dict[str, Any] = await eventually(probe, timeout=60)
    return found


async def commands_mentioning(bootstrap: str, needle: str) -> int:
    """How many records of the commands topic contain `needle` (read up to the high watermark)."""
    topic = Settings().topic("commands")
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer.topics()
        tps = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        count, caught_up = 0, set[TopicPartition]()
        for _ in range(200):
            batch = await consumer.getmany(timeout_ms=200)
            for records in batch.values():
                count += sum(1 for r in records if r.value and needle.encode() in r.value)
            for tp in tps:
                # The fetch high watermark, never end_offsets(): see the broker conformance notes.
                high = consumer.highwater(tp)
                if high is not None and await consumer.position(tp) >= high:
                    caught_up.add(tp)
            if len(caught_up) == len(tps):
                return count
        raise AssertionError("did not reach the end of the commands topic")
    finally:
        await consumer.stop()


async def test_submit_over_http_runs_to_success(stack: dict[str, Any]) -> None:
    async with api(stack) as client:
        resp = await client.post(
            "/v1/tasks",
            json={"type": "demo.echo", "payload": {"hello": "world"}, "labels": {"k": "v"}},
            headers={"X-Correlation-ID": "api-test-1"},
        )
        assert resp.status_code == 202, resp.text
        accepted = resp.json()
        assert resp.headers["location"] == accepted["links"]["self"]
        task = await projected(client, accepted["id"], "succeeded")
        assert task["result"] == {"hello": "world"}
        assert task["labels"] == {"k": "v"}
        assert task["correlation_id"] == "api-test-1"
        events = (await get_json(client, f"/v1/tasks/{accepted['id']}/events"))["items"]
        assert events[0]["type"] == "task.submitted"
        assert events[0]["causation_id"] == accepted["command_id"]
        assert events[-1]["type"] == "task.succeeded"
        assert [e["version"] for e in events] == sorted(e["version"] for e in events)


async def test_refused_requests_write_nothing(stack: dict[str, Any]) -> None:
    settings = Settings()
    queue = marker()
    ok = {"type": "demo.echo", "queue": queue}
    async with api(stack) as client:
        refusals = [
            (422, await client.post("/v1/tasks", json={**ok, "priority": 10})),
            (422, await client.post("/v1/tasks", json={**ok, "colour": "red"})),
            (422, await client.post("/v1/tasks", json={**ok, "delay_seconds": -1})),
            (
                413,
                await client.post(
                    "/v1/tasks", json={**ok, "payload": "a" * settings.max_payload_bytes}
                ),
            ),
            (
                413,
                await client.post(
                    "/v1/tasks", json={**ok, "payload": "a" * (settings.max_body_bytes + 1)}
                ),
            ),
        ]
        async with httpx.AsyncClient(base_url=stack["api_url"]) as anonymous:
            refusals.append((401, await anonymous.post("/v1/tasks", json=ok)))
            refusals.append(
                (
                    401,
                    await anonymous.post(
                        "/v1/tasks", json=ok, headers={"Authorization": "Bearer wrong"}
                    ),
                )
            )
        for status, resp in refusals:
            assert resp.status_code == status, resp.text
            assert resp.headers["content-type"] == PROBLEM_JSON
            assert resp.json()["status"] == status
        payload_problem = refusals[3][1].json()
        assert payload_problem["errors"][0]["field"] == "payload"
        assert payload_problem["errors"][0]["limit"] == settings.max_payload_bytes

        # One accepted control task in the same queue: once it is projected, the queue
        # holds it alone, and the log holds its command alone.
        control = (await client.post("/v1/tasks", json=ok)).json()["id"]
        await projected(client, control)
        page = await get_json(client, "/v1/tasks", queue=queue)
        assert [t["id"] for t in page["items"]] == [control]
    assert await commands_mentioning(stack["kafka_bootstrap"], queue) == 1


async def test_cancel_a_scheduled_task(stack: dict[str, Any]) -> None:
    async with api(stack) as client:
        body = {"type": "demo.echo", "delay_seconds": 3600}
        task_id = (await client.post("/v1/tasks", json=body)).json()["id"]
        await projected(client, task_id, "scheduled")
        resp = await client.post(f"/v1/tasks/{task_id}/cancel", json={"reason": "not needed"})
        assert resp.status_code == 202, resp.text
        await projected(client, task_id, "cancelled")
        events = (await get_json(client, f"/v1/tasks/{task_id}/events"))["items"]
        cancelled = [e for e in events if e["type"] == "task.cancelled"]
        assert cancelled[0]["payload"]["reason"] == "not needed"
        assert cancelled[0]["causation_id"] == resp.json()["command_id"]


async def test_cancel_of_a_finished_task_is_recorded_as_rejected(stack: dict[str, Any]) -> None:
    async with api(stack) as client:
        task_id = (await client.post("/v1/tasks", json={"type": "demo.echo"})).json()["id"]
        await projected(client, task_id, "succeeded")
        resp = await client.post(f"/v1/tasks/{task_id}/cancel")
        assert resp.status_code == 202, resp.text
        command_id = resp.json()["command_id"]

        async def rejection() -> dict[str, Any] | None:
            events = (await get_json(client, f"/v1/tasks/{task_id}/events"))["items"]
            return next(
                (
                    e
                    for e in events
                    if e["type"] == "command.rejected" and e["payload"]["command_id"] == command_id
                ),
                None,
            )

        await eventually(rejection, timeout=30)
        assert (await get_json(client, f"/v1/tasks/{task_id}"))["status"] == "succeeded"


async def test_listing_pages_through_a_queue(stack: dict[str, Any]) -> None:
    queue = marker()
    async with api(stack) as client:
        ids = []
        for i in range(5):
            resp = await client.post(
                "/v1/tasks", json={"type": "demo.echo", "queue": queue, "payload": i}
            )
            ids.append(resp.json()["id"])
        for task_id in ids:
            await projected(client, task_id)
        seen: list[str] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"queue": queue, "limit": 2}
            if cursor:
                params["cursor"] = cursor
            page = await get_json(client, "/v1/tasks", **params)
            seen += [t["id"] for t in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert sorted(seen) == sorted(ids)
        assert len(seen) == 5
        pending = await get_json(client, "/v1/tasks", queue=queue, status="pending")
        assert len(pending["items"]) == 5


async def test_read_errors_are_problems(stack: dict[str, Any]) -> None:
    settings = Settings()
    async with api(stack) as client:
        cases = [
            (404, await client.get(f"/v1/tasks/{uuid.uuid4()}")),
            (404, await client.get(f"/v1/tasks/{uuid.uuid4()}/events")),
            (404, await client.post(f"/v1/tasks/{uuid.uuid4()}/cancel")),
            (422, await client.get("/v1/tasks", params={"limit": settings.page_size_max + 1})),
            (422, await client.get("/v1/tasks", params={"status": "finished"})),
            (422, await client.get("/v1/tasks", params={"cursor": "not-a-cursor"})),
        ]
    for status, resp in cases:
        assert resp.status_code == status, resp.text
        assert resp.headers["content-type"] == PROBLEM_JSON
    assert cases[3][1].json()["errors"][0] == {
        "field": "limit",
        "message": f"must be ≤ {settings.page_size_max}",
        "limit": settings.page_size_max,
    }
    assert cases[5][1].json()["errors"][0]["field"] == "cursor"


async def test_operational_endpoints(stack: dict[str, Any]) -> None:
    async with httpx.AsyncClient(base_url=stack["api_url"]) as client:
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        ready = await client.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"] == {"postgres": "ok", "broker": "ok"}
        metrics = (await client.get("/metrics")).text
        assert "taskstream_api_requests_total" in metrics
        assert "taskstream_api_commands_appended_total" in metrics
        doc = (await client.get("/openapi.json")).json()
        assert "/v1/tasks/{task_id}/cancel" in doc["paths"]
