"""In-memory test doubles of the API's ports, and an app built on them.

For tests of the HTTP layer (here and in other packages' tests); never used when serving.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
from fastapi import FastAPI

from api.app import create_app
from api.auth import StaticKeyStore
from api.ports import Adapters, CommandLogUnavailable, Probe
from api.problems import PROBLEM_JSON
from taskstream.domain.envelope import Envelope
from taskstream.settings import Settings

TEST_KEY = "test-key"
FIXED_NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def task_state(task_id: str, *, tenant: str = "default", **changes: Any) -> dict[str, Any]:
    """A task dict in the read model's shape (`TaskState.as_dict()`)."""
    state: dict[str, Any] = {
        "id": task_id,
        "tenant": tenant,
        "queue": "default",
        "type": "demo.echo",
        "payload": {"n": 1},
        "priority": 5,
        "max_attempts": 3,
        "timeout_seconds": 300.0,
        "labels": {},
        "status": "pending",
        "version": 1,
        "created_at": FIXED_NOW.isoformat(),
        "updated_at": FIXED_NOW.isoformat(),
        "run_at": None,
        "attempts": [],
        "result": None,
        "correlation_id": None,
    }
    state.update(changes)
    return state


def _moment(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


class FakeReadModel:
    """Tasks and events in dicts; records the last `list_tasks` call."""

    def __init__(self) -> None:
        self.tasks: dict[tuple[str, str], dict[str, Any]] = {}
        self.events: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.list_calls: list[dict[str, Any]] = []
        self.next_cursor: str | None = None
        self.logs: dict[tuple[str, str], list[dict[str, Any]]] = {}

    def add(self, task: dict[str, Any], events: list[dict[str, Any]] | None = None) -> None:
        """Store a task (and its events)."""
        key = (task["tenant"], task["id"])
        self.tasks[key] = task
        self.events[key] = list(events or [])

    async def get_task(self, tenant: str, task_id: str) -> dict[str, Any] | None:
        """The stored task, or None."""
        return self.tasks.get((tenant, task_id))

    async def list_tasks(
        self,
        tenant: str,
        *,
        status: str | None,
        queue: str | None,
        type: str | None,
        limit: int,
        cursor: str | None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Matching tasks; `cursor` must be None or "c1" (else ValueError, as the real one)."""
        call = {"tenant": tenant, "status": status, "queue": queue, "type": type}
        self.list_calls.append({**call, "limit": limit, "cursor": cursor})
        if cursor not in (None, "c1"):
            raise ValueError("cursor")
        found = [
            t
            for (ten, _), t in self.tasks.items()
            if ten == tenant
            and (status is None or t["status"] == status)
            and (queue is None or t["queue"] == queue)
            and (type is None or t["type"] == type)
        ]
        return found[:limit], self.next_cursor

    async def task_events(
        self, tenant: str, task_id: str, *, after_version: int = 0, limit: int = 1000
    ) -> list[dict[str, Any]]:
        """The stored events after `after_version`."""
        # As the real one: from the start, version-0 rejections are included.
        low = after_version if after_version > 0 else -1
        events = self.events.get((tenant, task_id), [])
        return [e for e in events if e["version"] > low][:limit]

    async def count_by_status(self, tenant: str) -> dict[str, int]:
        """Counts of the stored tasks."""
        counts: dict[str, int] = {}
        for (ten, _), t in self.tasks.items():
            if ten == tenant:
                counts[t["status"]] = counts.get(t["status"], 0) + 1
        return counts

    async def task_attempts(self, tenant: str, task_id: str) -> list[dict[str, Any]]:
        """The stored task's attempts."""
        task = self.tasks.get((tenant, task_id))
        return list(task["attempts"]) if task else []

    async def task_logs(
        self,
        tenant: str,
        task_id: str,
        *,
        attempt: int | None = None,
        after_attempt: int = 0,
        after_seq: int = 0,
        limit: int = 1000,
    ) -> list[dict[str, Any]]:
        """The stored lines after the position, as the real one orders them."""
        lines = sorted(self.logs.get((tenant, task_id), []), key=lambda x: (x["attempt"], x["seq"]))
        if attempt is not None:
            found = [x for x in lines if x["attempt"] == attempt and x["seq"] > after_seq]
        else:
            found = [x for x in lines if (x["attempt"], x["seq"]) > (after_attempt, after_seq)]
        return found[:limit]

    async def task_history(
        self, tenant: str, task_id: str, *, at: int | datetime | None = None
    ) -> list[dict[str, Any]]:
        """The stored events up to version or time `at`."""
        events = self.events.get((tenant, task_id), [])
        if isinstance(at, int):
            return [e for e in events if e["version"] <= at]
        if at is not None:
            return [e for e in events if _moment(e["occurred_at"]) <= at]
        return list(events)


class RecordingSink:
    """Keeps every appended command; `fail` makes the next appends raise."""

    def __init__(self) -> None:
        self.commands: list[Envelope] = []
        self.fail: CommandLogUnavailable | None = None

    async def append(self, command: Envelope) -> None:
        """Record `command`, or raise the configured failure."""
        if self.fail is not None:
            raise self.fail
        self.commands.append(command)

    async def append_many(self, commands: list[Envelope]) -> None:
        """Record every command, or raise the configured failure (recording none)."""
        if self.fail is not None:
            raise self.fail
        self.commands.extend(commands)


class StaticProbe:
    """A readiness check that fails while `error` is set."""

    def __init__(self, name: str, error: Exception | None = None) -> None:
        self.name = name
        self.error = error

    async def check(self) -> None:
        """Raise `error` if set."""
        if self.error is not None:
            raise self.error


def build_test_app(
    settings: Settings | None = None,
    *,
    read_model: FakeReadModel | None = None,
    sink: RecordingSink | None = None,
    probes: tuple[Probe, ...] = (),
    clock: Callable[[], datetime] = lambda: FIXED_NOW,
) -> FastAPI:
    """An app on fakes, accepting `TEST_KEY`."""
    settings = settings or Settings(api_keys=TEST_KEY)
    adapters = Adapters(
        read_model=read_model or FakeReadModel(),
        commands=sink or RecordingSink(),
        keys=StaticKeyStore.from_setting(settings.api_keys),
        probes=probes,
        clock=clock,
    )
    return create_app(settings, deps=adapters)


def http_client(app: FastAPI, *, key: str | None = TEST_KEY) -> httpx.AsyncClient:
    """An in-process client of `app`, sending `key` as the bearer token unless None."""
    headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver", headers=headers
    )


def assert_problem(resp: httpx.Response, status: int) -> dict[str, Any]:
    """Check `resp` is an RFC 9457 problem with `status`; return its body."""
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"] == PROBLEM_JSON, resp.headers["content-type"]
    body: dict[str, Any] = resp.json()
    assert body["status"] == status
    assert {"type", "title", "detail"} <= body.keys()
    return body
