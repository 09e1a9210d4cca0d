"""`/v1/schedules` on fakes: validation naming the field, commands, reads."""

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
from taskstream.domain import schedule_model as s
from taskstream.domain.schedule import decide
from taskstream.settings import Settings


class FakeSchedules:
    def __init__(self) -> None:
        self.items: dict[tuple[str, str], dict[str, Any]] = {}

    async def get_schedule(
        self, tenant: str, schedule_id: str, *, fires: int = 20
    ) -> dict[str, Any] | None:
        found = self.items.get((tenant, schedule_id))
        return None if found is None else {**found, "recent_fires": []}

    async def list_schedules(
        self, tenant: str, *, include_deleted: bool, limit: int, cursor: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        if cursor is not None:
            raise ValueError("cursor")
        return [v for (t, _), v in self.items.items() if t == tenant][:limit], None


@pytest.fixture
def sink() -> RecordingSink:
    return RecordingSink()


@pytest.fixture
def schedules() -> FakeSchedules:
    return FakeSchedules()


@pytest.fixture
async def client(sink: RecordingSink, schedules: FakeSchedules) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(api_keys=TEST_KEY)
    adapters = Adapters(
        read_model=FakeReadModel(),
        commands=sink,
        keys=StaticKeyStore.from_setting(settings.api_keys),
        clock=lambda: FIXED_NOW,
        schedules=schedules,
    )
    async with http_client(create_app(settings, deps=adapters)) as c:
        yield c


async def test_create_appends_one_command_the_domain_accepts(
    client: httpx.AsyncClient, sink: RecordingSink
) -> None:
    body = {"cron": "*/5 * * * *", "timezone": "Europe/Berlin", "template": {"type": "echo"}}
    resp = await client.post("/v1/schedules", json=body)
    assert resp.status_code == 202, resp.text
    sid = resp.json()["id"]
    assert sid.startswith("sch_") and resp.headers["location"] == f"/v1/schedules/{sid}"
    (cmd,) = sink.commands
    assert cmd.type == s.CREATE_SCHEDULE and cmd.task_id == sid
    assert cmd.payload["template"]["priority"] is None  # resolved at each fire
    (event,) = decide(None, cmd, FIXED_NOW)
    assert event.type == s.SCHEDULE_CREATED


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"cron": "61 * * * *", "template": {"type": "x"}}, "cron"),
        ({"cron": "* * * * *", "timezone": "Mars/Base", "template": {"type": "x"}}, "timezone"),
        ({"cron": "* * * * *", "template": {"type": "x", "priority": 12}}, "template.priority"),
        (
            {"cron": "* * * * *", "template": {"type": "x", "delay_seconds": 3}},
            "template.delay_seconds",
        ),
        ({"cron": "* * * * *", "template": {"type": "x"}, "misfire": "all"}, "misfire"),
    ],
)
async def test_invalid_input_is_422_naming_the_field(
    client: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    problem = assert_problem(await client.post("/v1/schedules", json=body), 422)
    assert field in [e["field"] for e in problem["errors"]]


async def test_actions_need_a_known_schedule(
    client: httpx.AsyncClient, sink: RecordingSink, schedules: FakeSchedules
) -> None:
    assert_problem(await client.post("/v1/schedules/sch_x/pause"), 404)
    schedules.items[("default", "sch_x")] = {"id": "sch_x"}
    for path, type_ in (
        ("/v1/schedules/sch_x/pause", s.PAUSE_SCHEDULE),
        ("/v1/schedules/sch_x/resume", s.RESUME_SCHEDULE),
    ):
        assert (await client.post(path)).status_code == 202
        assert sink.commands[-1].type == type_
    assert (await client.delete("/v1/schedules/sch_x")).status_code == 202
    assert sink.commands[-1].type == s.DELETE_SCHEDULE
    assert_problem(await client.get("/v1/schedules?cursor=zzz"), 422)
