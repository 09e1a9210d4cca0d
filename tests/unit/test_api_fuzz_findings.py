"""Bugs schemathesis found on the live API (each was a 500 or an undocumented answer)."""

from __future__ import annotations

import pytest

from api.testing import FakeReadModel, assert_problem, build_test_app, http_client, task_state

BIG = 2**40


async def test_an_integer_beyond_64_bits_in_a_payload_is_422_naming_it() -> None:
    async with http_client(build_test_app()) as client:
        one = await client.post("/v1/tasks", json={"type": "x", "payload": {"n": 2**70}})
        many = await client.post(
            "/v1/tasks:batch", json={"tasks": [{"type": "x", "payload": -(2**80)}]}
        )
    assert assert_problem(one, 422)["errors"][0]["field"] == "payload"
    assert assert_problem(many, 422)["errors"][0]["field"] == "tasks[0].payload"


@pytest.mark.parametrize(
    ("path", "field"),
    [
        (f"/v1/tasks/t1/events?after_version={BIG}", "after_version"),
        (f"/v1/tasks/t1/logs?after_seq={BIG}", "after_seq"),
        (f"/v1/tasks/t1/logs?after_attempt={BIG}", "after_attempt"),
        (f"/v1/tasks/t1/logs?attempt={BIG}", "attempt"),
        (f"/v1/tasks/t1/state?at={BIG}", "at"),
        ("/v1/tasks/t1/state?at=9999-12-31T23:00:00-05:00", "at"),
    ],
)
async def test_numbers_beyond_postgres_integers_are_422(path: str, field: str) -> None:
    reads = FakeReadModel()
    reads.add(task_state("t1"))
    async with http_client(build_test_app(read_model=reads)) as client:
        resp = await client.get(path)
    assert assert_problem(resp, 422)["errors"][0]["field"] == field


async def test_a_body_that_is_not_utf8_json_is_a_400_problem_naming_the_body() -> None:
    async with http_client(build_test_app()) as client:
        resp = await client.post(
            "/v1/tasks", content=b"\xff\x12\xe3$", headers={"Content-Type": "application/json"}
        )
    body = assert_problem(resp, 400)
    assert body["type"].endswith("malformed-body") and body["errors"][0]["field"] == "body"


async def test_a_nul_character_in_a_key_name_is_422_naming_it() -> None:
    async with http_client(build_test_app()) as client:
        resp = await client.post("/v1/admin/keys", json={"scopes": ["admin"], "name": "a\u0000b"})
    assert assert_problem(resp, 422)["errors"][0]["field"] == "name"
