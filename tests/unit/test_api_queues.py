"""`/v1/queues` and `/v1/workers` over fakes: shapes, the counts-source header, errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from api.app import create_app
from api.auth import StaticKeyStore
from api.ports import Adapters
from api.queue_schemas import COUNTS_SOURCE_HEADER
from api.testing import (
    FIXED_NOW,
    TEST_KEY,
    FakeReadModel,
    RecordingSink,
    assert_problem,
    http_client,
)
from api.workers_view import Seen, WorkerBook, describe
from projections.counters import field_name
from projections.queue_read import QueueView, build_views
from projections.queue_stats import HIST_BINS, hist_bin
from taskstream.settings import Settings


class FakeQueues:
    """Counts per tenant, a source to report, and recorded stats calls."""

    def __init__(self) -> None:
        self.counts: dict[str, dict[str, int]] = {}
        self.known: dict[str, set[str]] = {}
        self.settings: dict[str, dict[str, tuple[bool, int | None]]] = {}
        self.source = "redis"
        self.stats_calls: list[tuple[Any, ...]] = []

    async def queues(self, tenant: str) -> tuple[dict[str, QueueView], str]:
        known = self.known.get(tenant, set())
        views = build_views(known, self.settings.get(tenant, {}), self.counts.get(tenant, {}))
        return views, self.source

    async def stats(
        self, tenant: str, queue: str, since: datetime, until: datetime, bucket: timedelta
    ) -> tuple[list[dict[str, Any]], dict[datetime, dict[str, list[int]]]]:
        self.stats_calls.append((tenant, queue, since, until, bucket))
        hist = [0] * HIST_BINS
        hist[hist_bin(0.5)] = 2
        row = {"start": since, "submitted": 4, "succeeded": 2, "failed": 2, "run_sum": 1.0}
        return [{**row, "run_count": 2}], {since: {"run": hist}}


class FakeWorkers:
    timeout_seconds = 7.0

    def __init__(self) -> None:
        self.book = WorkerBook(forget=3600)
        self.warm = True

    async def workers(self, tenant: str, *, include_gone: bool) -> list[dict[str, Any]]:
        if not self.warm:
            raise TimeoutError
        now = FIXED_NOW.timestamp()
        return self.book.list(tenant, now, self.timeout_seconds, include_gone=include_gone)


@pytest.fixture
def fakes() -> tuple[FakeQueues, FakeWorkers]:
    return FakeQueues(), FakeWorkers()


def app_for(queues: FakeQueues, workers: FakeWorkers) -> Any:
    settings = Settings(api_keys=TEST_KEY, stats_max_buckets=100)
    adapters = Adapters(
        read_model=FakeReadModel(),
        commands=RecordingSink(),
        keys=StaticKeyStore.from_setting(settings.api_keys),
        clock=lambda: FIXED_NOW,
        queue_reads=queues,
        workers=workers,
    )
    return create_app(settings, deps=adapters)


async def test_queues_list_counts_by_status_and_priority_with_settings(
    fakes: tuple[FakeQueues, FakeWorkers],
) -> None:
    queues, workers = fakes
    queues.counts["default"] = {
        field_name("emails", 5, "pending"): 3,
        field_name("emails", 9, "pending"): 1,
        field_name("emails", 9, "running"): 2,
        field_name("video", 0, "dead"): 4,
    }
    queues.known["default"] = {"emails", "video", "idle"}
    queues.settings["default"] = {"emails": (True, 10)}
    queues.counts["other"] = {field_name("secret", 1, "pending"): 7}
    async with http_client(app_for(queues, workers)) as client:
        resp = await client.get("/v1/queues")
    assert resp.status_code == 200, resp.text
    assert resp.headers[COUNTS_SOURCE_HEADER] == "redis"
    body = resp.json()
    assert body["counts_source"] == "redis"
    by_name = {q["queue"]: q for q in body["queues"]}
    assert sorted(by_name) == ["emails", "idle", "video"]
    emails = by_name["emails"]
    assert emails["paused"] is True and emails["concurrency_limit"] == 10
    assert emails["counts"] == {"pending": 4, "scheduled": 0, "running": 2, "dead": 0}
    assert [p["priority"] for p in emails["by_priority"]] == [9, 5]
    assert emails["by_priority"][0] == {
        "priority": 9, "pending": 1, "scheduled": 0, "running": 2, "dead": 0
    }  # fmt: skip
    idle = by_name["idle"]
    assert idle["paused"] is False and idle["concurrency_limit"] is None
    assert idle["counts"] == {"pending": 0, "scheduled": 0, "running": 0, "dead": 0}


async def test_one_queue_and_the_postgres_source(fakes: tuple[FakeQueues, FakeWorkers]) -> None:
    queues, workers = fakes
    queues.source = "postgres"
    queues.counts["default"] = {field_name("emails", 5, "scheduled"): 2}
    async with http_client(app_for(queues, workers)) as client:
        resp = await client.get("/v1/queues/emails")
        missing = await client.get("/v1/queues/nope")
        bad = await client.get("/v1/queues/no%20spaces")
    assert resp.status_code == 200
    assert resp.headers[COUNTS_SOURCE_HEADER] == "postgres"
    assert resp.json()["counts"]["scheduled"] == 2
    assert resp.json()["counts_source"] == "postgres"
    assert assert_problem(missing, 404)["type"].endswith("queue-not-found")
    assert_problem(bad, 422)


async def test_stats_range_defaults_and_limits(fakes: tuple[FakeQueues, FakeWorkers]) -> None:
    queues, workers = fakes
    queues.known["default"] = {"emails"}
    async with http_client(app_for(queues, workers)) as client:
        resp = await client.get("/v1/queues/emails/stats")
        too_many = await client.get("/v1/queues/emails/stats", params={"bucket": "1m",
                                    "since": "2026-01-01T00:00:00Z"})  # fmt: skip
        reversed_ = await client.get(
            "/v1/queues/emails/stats",
            params={"since": "2026-01-01T12:00:00Z", "until": "2026-01-01T11:00:00Z"},
        )
        naive = await client.get("/v1/queues/emails/stats", params={"since": "2026-01-01T10:00"})
        unknown = await client.get("/v1/queues/nope/stats")
        early = await client.get(
            "/v1/queues/emails/stats", params={"until": "0001-01-01T00:30:00Z"}
        )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["bucket"] == "5m" and body["bucket_seconds"] == 300
    assert queues.stats_calls[0][2:] == (
        FIXED_NOW - timedelta(hours=1), FIXED_NOW, timedelta(minutes=5)
    )  # fmt: skip
    assert body["totals"]["success_rate"] == 0.5
    assert body["totals"]["run_seconds"]["avg"] == 0.5
    assert len(body["buckets"]) == 1
    problem = assert_problem(too_many, 422)
    assert problem["errors"][0]["field"] == "bucket" and problem["errors"][0]["limit"] == 100
    assert assert_problem(reversed_, 422)["errors"][0]["field"] == "since"
    assert assert_problem(naive, 422)["errors"][0]["field"] == "since"
    assert_problem(unknown, 404)
    assert assert_problem(early, 422)["errors"][0]["field"] == "until"


def test_the_counts_source_header_is_documented() -> None:
    schema = app_for(FakeQueues(), FakeWorkers()).openapi()
    for path in ("/v1/queues", "/v1/queues/{queue}"):
        headers = schema["paths"][path]["get"]["responses"]["200"]["headers"]
        assert headers[COUNTS_SOURCE_HEADER]["schema"]["enum"] == ["redis", "postgres"]
    assert "/v1/queues/{queue}/stats" in schema["paths"]
    assert "/v1/workers" in schema["paths"]


def heartbeat(worker: str, **changes: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "worker": worker,
        "queues": ["emails"],
        "concurrency": 4,
        "running": 2,
        "host": "h",
        "pid": 42,
        "started_at": "2026-01-01T11:00:00+00:00",
        "sent_at": "2026-01-01T12:00:00+00:00",
        "state": "up",
        "attempts": [
            {"task_id": "t-mine", "tenant": "default", "attempt": 2,
             "started_at": "2026-01-01T11:59:00+00:00"},
            {"task_id": "t-theirs", "tenant": "other", "attempt": 1,
             "started_at": "2026-01-01T11:59:30+00:00"},
        ],
    }  # fmt: skip
    record.update(changes)
    return record


def test_a_worker_shows_only_the_callers_attempts_and_lapses() -> None:
    now = FIXED_NOW.timestamp()
    seen = Seen(heartbeat("w1"), now - 1)
    mine = describe(seen, "default", now, 7.0)
    assert mine["status"] == "up" and mine["capacity"] == 4 and mine["in_flight"] == 2
    assert [(a["task_id"], a["attempt"]) for a in mine["attempts"]] == [("t-mine", 2)]
    assert mine["attempts"][0]["started_at"] == datetime(2026, 1, 1, 11, 59, tzinfo=UTC)
    assert [a["task_id"] for a in describe(seen, "other", now, 7.0)["attempts"]] == ["t-theirs"]
    assert describe(seen, "third", now, 7.0)["attempts"] == []
    assert describe(Seen(heartbeat("w1"), now - 8), "default", now, 7.0)["status"] == "lapsed"
    assert describe(Seen(heartbeat("w1", state="down"), now), "default", now, 7.0)["status"] == (
        "down"
    )


def test_an_old_heartbeat_without_attempts_still_reads() -> None:
    old = heartbeat("w0")
    del old["attempts"]
    shown = describe(Seen(old, 100.0), "default", 101.0, 7.0)
    assert shown["attempts"] == [] and shown["attempts_reported"] is False
    assert shown["capacity"] == 4


def test_the_book_keeps_the_newest_beat_and_forgets_the_silent() -> None:
    book = WorkerBook(forget=60)
    book.observe(heartbeat("w1", running=1), 100.0)
    book.observe(heartbeat("w1", running=3), 90.0)  # an older record read later
    book.observe({"worker": ""}, 100.0)
    assert book.seen["w1"].record["running"] == 1
    book.observe(heartbeat("w2"), 20.0)
    book.prune(100.0)
    assert sorted(book.seen) == ["w1"]


async def test_workers_endpoint_lists_live_ones_and_warms_up(
    fakes: tuple[FakeQueues, FakeWorkers],
) -> None:
    queues, workers = fakes
    now = FIXED_NOW.timestamp()
    workers.book.observe(heartbeat("w-live"), now - 1)
    workers.book.observe(heartbeat("w-gone"), now - 30)
    async with http_client(app_for(queues, workers)) as client:
        live = await client.get("/v1/workers")
        every = await client.get("/v1/workers", params={"include_gone": "true"})
        workers.warm = False
        warming = await client.get("/v1/workers")
        unauthenticated = await client.get("/v1/workers", headers={"Authorization": ""})
    assert live.status_code == 200, live.text
    assert [w["worker"] for w in live.json()["workers"]] == ["w-live"]
    assert live.json()["heartbeat_timeout_seconds"] == 7.0
    assert live.json()["workers"][0]["attempts"][0]["task_id"] == "t-mine"
    assert {w["worker"]: w["status"] for w in every.json()["workers"]} == {
        "w-gone": "lapsed", "w-live": "up"
    }  # fmt: skip
    assert assert_problem(warming, 503)
    assert warming.headers["Retry-After"] == "1"
    assert_problem(unauthenticated, 401)
