"""`/v1/queues/{queue}/pause|resume|limit` on fakes: commands the domain accepts, 422s."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from api.app import create_app
from api.auth import StaticKeyStore
from api.ports import Adapters
from api.testing import (
    FIXED_NOW,
    TEST_KEY,
    FakeReadModel,
    RecordingSink,
    assert_problem,
    http_client,
)
from taskstream.domain import queue_model as q
from taskstream.domain.queue import decide
from taskstream.settings import Settings


@pytest.fixture
def sink() -> RecordingSink:
    return RecordingSink()


@pytest.fixture
async def client(sink: RecordingSink) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(api_keys=TEST_KEY)
    adapters = Adapters(
        read_model=FakeReadModel(),
        commands=sink,
        keys=StaticKeyStore.from_setting(settings.api_keys),
        clock=lambda: FIXED_NOW,
    )
    async with http_client(create_app(settings, deps=adapters)) as c:
        yield c


@pytest.mark.parametrize(
    ("method", "path", "body", "type_", "payload"),
    [
        ("POST", "pause", {"reason": "deploy"}, q.PAUSE_QUEUE, {"reason": "deploy"}),
        ("POST", "pause", None, q.PAUSE_QUEUE, {"reason": ""}),
        ("POST", "resume", None, q.RESUME_QUEUE, {"reason": ""}),
        ("PUT", "limit", {"limit": 4}, q.SET_QUEUE_LIMIT, {"limit": 4, "reason": ""}),
        ("PUT", "limit", {"limit": None}, q.SET_QUEUE_LIMIT, {"limit": None, "reason": ""}),
        ("DELETE", "limit", None, q.SET_QUEUE_LIMIT, {"limit": None, "reason": ""}),
    ],
)
async def test_each_action_appends_one_command_the_queue_accepts(
    client: httpx.AsyncClient,
    sink: RecordingSink,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    type_: str,
    payload: dict[str, Any],
) -> None:
    resp = await client.request(method, f"/v1/queues/emails.eu/{path}", json=body)
    assert resp.status_code == 202, resp.text
    assert resp.json()["id"] == "que_default:emails.eu"
    (cmd,) = sink.commands
    assert (cmd.type, cmd.task_id, cmd.tenant, cmd.payload) == (
        type_,
        "que_default:emails.eu",
        "default",
        payload,
    )
    (event,) = decide(None, cmd, FIXED_NOW)
    assert event.type != "command.rejected", event.payload


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("PUT", "/v1/queues/emails/limit", {"limit": 0}, "limit"),
        ("PUT", "/v1/queues/emails/limit", {"limit": q.MAX_LIMIT + 1}, "limit"),
        ("PUT", "/v1/queues/emails/limit", {}, "limit"),
        ("PUT", "/v1/queues/emails/limit", {"limit": "many"}, "limit"),
        ("POST", "/v1/queues/emails/pause", {"reason": "x" * 1001}, "reason"),
        ("POST", "/v1/queues/bad:name/pause", None, "queue"),
    ],
)
async def test_bad_input_is_422_naming_the_field(
    client: httpx.AsyncClient, sink: RecordingSink, method: str, path: str, body: Any, field: str
) -> None:
    problem = assert_problem(await client.request(method, path, json=body), 422)
    assert field in [e["field"] for e in problem["errors"]], problem
    assert sink.commands == []


async def test_actions_need_the_write_scope(client: httpx.AsyncClient) -> None:
    resp = await client.post("/v1/queues/emails/pause", headers={"Authorization": "Bearer nope"})
    assert_problem(resp, 401)
