"""Attempts, log lines and time travel over HTTP, on a fake read model."""

from __future__ import annotations

from typing import Any

import msgspec

from api.testing import (
    FakeReadModel,
    assert_problem,
    build_test_app,
    http_client,
    task_state,
)
from projections.synthetic import task_lives
from taskstream.domain.machine import fold

LIFE = next(life for life in task_lives(30, seed=3) if len(life) >= 5)
TASK_ID = LIFE[0].task_id


def rows(events: list[Any]) -> list[dict[str, Any]]:
    return [{**msgspec.to_builtins(ev), "partition": 0, "offset": i} for i, ev in enumerate(events)]


def line(attempt: int, seq: int, message: str = "") -> dict[str, Any]:
    return {
        "attempt": attempt,
        "seq": seq,
        "at": "2026-01-01T12:00:00+00:00",
        "level": "info",
        "message": message or f"line {attempt}.{seq}",
    }


def model() -> FakeReadModel:
    rm = FakeReadModel()
    final = fold(LIFE)
    assert final is not None
    rm.add(final.as_dict(), rows(LIFE))
    rm.logs[("default", TASK_ID)] = [line(2, 1), line(1, 2), line(1, 1), line(2, 2)]
    return rm


async def test_state_at_each_version_is_the_folded_state() -> None:
    async with http_client(build_test_app(read_model=model())) as client:
        for v in sorted({ev.version for ev in LIFE if ev.version > 0}):
            resp = await client.get(f"/v1/tasks/{TASK_ID}/state", params={"at": str(v)})
            assert resp.status_code == 200, resp.text
            body = resp.json()
            expected = fold([ev for ev in LIFE if ev.version <= v])
            assert expected is not None
            assert body["version"] == v == body["as_of"]["version"]
            assert body["status"] == expected.status.value
            assert len(body["attempts"]) == len(expected.attempts)


async def test_state_at_a_time() -> None:
    moment = LIFE[2].occurred_at.isoformat()
    async with http_client(build_test_app(read_model=model())) as client:
        resp = await client.get(f"/v1/tasks/{TASK_ID}/state", params={"at": moment})
    assert resp.status_code == 200, resp.text
    expected = fold([ev for ev in LIFE if ev.occurred_at <= LIFE[2].occurred_at])
    assert expected is not None and resp.json()["version"] == expected.version


async def test_state_before_the_task_existed_is_404_saying_so() -> None:
    async with http_client(build_test_app(read_model=model())) as client:
        before = await client.get(f"/v1/tasks/{TASK_ID}/state", params={"at": "0"})
        unknown = await client.get("/v1/tasks/nope/state", params={"at": "3"})
    body = assert_problem(before, 404)
    assert "did not exist yet" in body["detail"] and body["type"].endswith("task-not-yet")
    assert assert_problem(unknown, 404)["type"].endswith("task-not-found")


async def test_a_bad_at_is_422_naming_at_and_the_forms() -> None:
    async with http_client(build_test_app(read_model=model())) as client:
        bad = await client.get(f"/v1/tasks/{TASK_ID}/state", params={"at": "last tuesday"})
        naive = await client.get(f"/v1/tasks/{TASK_ID}/state", params={"at": "2026-01-01T12:00"})
        missing = await client.get(f"/v1/tasks/{TASK_ID}/state")
    for resp in (bad, naive):
        body = assert_problem(resp, 422)
        assert body["errors"][0]["field"] == "at"
        assert "version number" in body["errors"][0]["message"]
    assert assert_problem(missing, 422)["errors"][0]["field"] == "at"


async def test_attempts_of_a_task() -> None:
    rm = model()
    async with http_client(build_test_app(read_model=rm)) as client:
        resp = await client.get(f"/v1/tasks/{TASK_ID}/attempts")
        unknown = await client.get("/v1/tasks/nope/attempts")
        rm.add(task_state("fresh"))
        fresh = await client.get("/v1/tasks/fresh/attempts")
    assert resp.status_code == 200
    assert [a["number"] for a in resp.json()["items"]] == [
        a["number"] for a in rm.tasks[("default", TASK_ID)]["attempts"]
    ]
    assert_problem(unknown, 404)
    assert fresh.status_code == 200 and fresh.json() == {"items": []}


async def test_logs_in_order_by_attempt_and_after_a_position() -> None:
    async with http_client(build_test_app(read_model=model())) as client:
        base = f"/v1/tasks/{TASK_ID}/logs"
        every = (await client.get(base)).json()["items"]
        one = (await client.get(base, params={"attempt": 1})).json()["items"]
        after = (await client.get(base, params={"after_attempt": 1, "after_seq": 2})).json()
        paged = (await client.get(base, params={"limit": 3})).json()["items"]
        refused = await client.get(base, params={"after_seq": 1})
        unknown = await client.get("/v1/tasks/nope/logs")
    assert [(x["attempt"], x["seq"]) for x in every] == [(1, 1), (1, 2), (2, 1), (2, 2)]
    assert [(x["attempt"], x["seq"]) for x in one] == [(1, 1), (1, 2)]
    assert [(x["attempt"], x["seq"]) for x in after["items"]] == [(2, 1), (2, 2)]
    assert len(paged) == 3
    assert assert_problem(refused, 422)["errors"][0]["field"] == "after_seq"
    assert_problem(unknown, 404)


async def test_history_routes_are_tenant_scoped_and_documented() -> None:
    rm = model()
    app = build_test_app(read_model=rm)
    rm.tasks = {("other", TASK_ID): rm.tasks[("default", TASK_ID)]}
    rm.events = {("other", TASK_ID): rm.events[("default", TASK_ID)]}
    rm.logs = {("other", TASK_ID): rm.logs[("default", TASK_ID)]}
    async with http_client(app) as client:
        for path in ("attempts", "logs", "state?at=3"):
            assert_problem(await client.get(f"/v1/tasks/{TASK_ID}/{path}"), 404)
    paths = app.openapi()["paths"]
    for path in ("attempts", "logs", "state"):
        op = paths[f"/v1/tasks/{{task_id}}/{path}"]["get"]
        assert op["summary"] and "200" in op["responses"] and "404" in op["responses"]
