"""The Elasticsearch backend without a server: templates, documents, bulk bodies, queries."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from elastic_transport import ApiResponseMeta, HttpHeaders, NodeConfig
from elasticsearch import ApiError
from elasticsearch import ConnectionError as EsConnectionError

from projections.fold import state_from_dict
from projections.logs import LogLine
from projections.search import es_bulk
from projections.search import es_mappings as names
from projections.search.backend import SearchQuery, decode_cursor, encode_cursor
from projections.search.documents import log_action, task_action, task_document
from projections.search.es_query import UnsupportedFilter, build_log_search, build_task_search
from projections.search.snippets import START, STOP, render
from projections.search.text import bounded_join, leaf_text

AT = datetime(2026, 11, 27, 23, 59, 59, 500000, tzinfo=UTC)


def state(**changes: Any) -> Any:
    shown: dict[str, Any] = {
        "id": "t1",
        "tenant": "acme",
        "queue": "emails",
        "type": "mail.send",
        "payload": {"to": "ada@example.com", "n": 7, "ok": True, "nested": [{"x": "zebra"}]},
        "priority": 5,
        "max_attempts": 3,
        "timeout_seconds": 300.0,
        "labels": {"team": "billing"},
        "status": "dead",
        "version": 9,
        "created_at": "2026-11-27T08:00:00+00:00",
        "updated_at": "2026-11-27T08:01:00+00:00",
        "run_at": None,
        "attempts": [
            {
                "number": 1,
                "worker": "w1",
                "started_at": "2026-11-27T08:00:01+00:00",
                "finished_at": "2026-11-27T08:00:02+00:00",
                "error": "SMTPError: mailbox unavailable",
                "traceback": "Traceback (most recent call last):\n  smtplib",
                "outcome": "failed",
            }
        ],
        "result": None,
        "correlation_id": None,
        "cancel_requested": False,
        "redrives": 0,
    }
    shown.update(changes)
    return state_from_dict(shown)


def line(**changes: Any) -> LogLine:
    base: dict[str, Any] = {
        "task_id": "t1",
        "tenant": "acme",
        "attempt": 2,
        "seq": 4,
        "at": AT,
        "level": "warning",
        "message": "retrying after mailbox unavailable",
    }
    base.update(changes)
    return LogLine(**base)


# Templates and mappings.


def test_tasks_template_maps_every_field_explicitly_and_strictly() -> None:
    tpl = names.tasks_template("ts", shards=2, replicas=0)
    assert tpl["index_patterns"] == ["ts-tasks-*"]
    assert tpl["template"]["settings"] == {"number_of_shards": 2, "number_of_replicas": 0}
    mappings = tpl["template"]["mappings"]
    assert mappings["dynamic"] == "strict"
    props = mappings["properties"]
    assert props["tenant"]["type"] == "keyword"
    assert props["status"]["type"] == "keyword"
    assert props["type"] == {
        "type": "keyword",
        "ignore_above": 1024,
        "fields": {"text": {"type": "text"}},
    }
    assert props["labels"] == {"type": "flattened"}
    assert props["created_at"] == {"type": "date"}
    assert props["payload_text"] == {"type": "text"}
    assert props["errors"] == {"type": "text"}
    assert props["state"] == {"type": "object", "enabled": False}
    # Every field a document carries is mapped (strict would refuse it otherwise).
    assert set(task_document(state(), max_chars=100)) == set(props)


def test_logs_template_maps_daily_indices_behind_an_alias() -> None:
    tpl = names.logs_template("ts", shards=1, replicas=1)
    assert tpl["index_patterns"] == ["ts-logs-*"]
    assert tpl["template"]["aliases"] == {"ts-logs": {}}
    props = tpl["template"]["mappings"]["properties"]
    assert tpl["template"]["mappings"]["dynamic"] == "strict"
    assert props["message"] == {"type": "text"}
    assert props["at"] == {"type": "date"}
    _, doc = log_action("ts", line(), queue="emails", type="mail.send")
    assert set(doc) == set(props)
    assert set(names.templates("ts", shards=1, replicas=1)) == {"ts-tasks", "ts-logs"}


def test_index_names() -> None:
    assert names.logs_index("ts", AT) == "ts-logs-2026.11.27"
    # The UTC date decides, whatever the offset the time is written with.
    assert names.tasks_alias("ts") == "ts-tasks"
    assert names.tasks_index("ts", names.generation_of(AT)) == "ts-tasks-20261127t235959500000"


# Documents.


def test_task_document_from_state() -> None:
    doc = task_document(state(), max_chars=1000)
    assert doc["task_id"] == "t1"
    assert doc["tenant"] == "acme"
    assert doc["status"] == "dead"
    assert doc["version"] == 9
    assert doc["attempts"] == 1
    assert doc["labels"] == {"team": "billing"}
    assert doc["labels_text"] == "team billing"
    assert doc["payload_text"] == "ada@example.com 7 zebra"
    assert doc["errors"] == (
        "SMTPError: mailbox unavailable Traceback (most recent call last):\n  smtplib"
    )
    assert doc["state"]["id"] == "t1"
    assert doc["fold"]["attempt_base"] == 0
    # The stored state folds back into the same TaskState.
    assert state_from_dict(doc["state"], doc["fold"]) == state()


def test_text_is_bounded() -> None:
    assert list(leaf_text({"a": ["x", 1, None, False, {"b": 2.5}]})) == ["x", "1", "2.5"]
    assert bounded_join(["abcdef", "ghij"], 4) == "abcd"
    assert bounded_join(["ab", "cdef"], 5) == "ab cd"
    doc = task_document(state(payload={"text": "y" * 500}), max_chars=100)
    assert doc["payload_text"] == "y" * 100


def test_bulk_body_of_a_task_uses_external_versioning() -> None:
    actions = [task_action("ts-tasks", state(), max_chars=1000)]
    lines = es_bulk.ndjson(actions).split(b"\n")
    assert lines[-1] == b""  # the body ends with a newline
    assert orjson.loads(lines[0]) == {
        "index": {"_index": "ts-tasks", "_id": "t1", "version": 9, "version_type": "external"}
    }
    assert orjson.loads(lines[1]) == task_document(state(), max_chars=1000)
    assert len(lines) == 3


def test_bulk_body_of_log_lines_creates_by_position_in_the_daily_index() -> None:
    actions = [log_action("ts", line()), log_action("ts", line(seq=5, message="done"))]
    lines = [orjson.loads(x) for x in es_bulk.ndjson(actions).splitlines()]
    assert lines[0] == {"create": {"_index": "ts-logs-2026.11.27", "_id": "t1:2:4"}}
    assert lines[1] == {
        "task_id": "t1",
        "tenant": "acme",
        "attempt": 2,
        "seq": 4,
        "at": "2026-11-27T23:59:59.500000+00:00",
        "level": "warning",
        "message": "retrying after mailbox unavailable",
    }
    assert lines[2] == {"create": {"_index": "ts-logs-2026.11.27", "_id": "t1:2:5"}}
    assert lines[3]["message"] == "done"


# Bulk sending.


class FakeBulk:
    """Answers each bulk call from a script: a response body, or an exception to raise."""

    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)
        self.calls: list[list[dict[str, Any]]] = []

    async def bulk(self, *, operations: list[dict[str, Any]], refresh: Any = False) -> Any:
        self.calls.append(operations)
        answer = self.answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer


def item(op: str, id_: str, status: int, error: dict[str, Any] | None = None) -> dict[str, Any]:
    res: dict[str, Any] = {"_index": "ts-tasks", "_id": id_, "status": status}
    if error:
        res["error"] = error
    return {op: res}


def api_error(status: int) -> ApiError:
    meta = ApiResponseMeta(
        status=status,
        http_version="1.1",
        headers=HttpHeaders(),
        duration=0.0,
        node=NodeConfig("http", "localhost", 9200),
    )
    return ApiError(f"status {status}", meta=meta, body={"error": {"type": "x"}})


def actions(*ids: str) -> list[es_bulk.Action]:
    return [({"index": {"_index": "ts-tasks", "_id": i}}, {"task_id": i}) for i in ids]


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


async def test_version_conflicts_are_expected_and_ignored() -> None:
    conflict = {"type": "version_conflict_engine_exception", "reason": "current version [9]"}
    client = FakeBulk(
        {"errors": True, "items": [item("index", "a", 201), item("index", "b", 409, conflict)]}
    )
    result = await es_bulk.send(client, actions("a", "b"), sleep=Sleeps())
    assert result == es_bulk.BulkResult(written=1, conflicts=1, retried=0)
    assert len(client.calls) == 1


async def test_items_refused_with_429_or_5xx_are_resent_alone_with_backoff() -> None:
    busy = {"type": "es_rejected_execution_exception", "reason": "queue full"}
    client = FakeBulk(
        {
            "errors": True,
            "items": [
                item("index", "a", 201),
                item("index", "b", 429, busy),
                item("index", "c", 503, busy),
            ],
        },
        {"errors": True, "items": [item("index", "b", 201), item("index", "c", 429, busy)]},
        {"errors": False, "items": [item("index", "c", 200)]},
    )
    sleeps = Sleeps()
    result = await es_bulk.send(client, actions("a", "b", "c"), base=0.5, cap=10, sleep=sleeps)
    assert result == es_bulk.BulkResult(written=3, conflicts=0, retried=3)
    assert [[op["index"]["_id"] for op in call[::2]] for call in client.calls] == [
        ["a", "b", "c"],
        ["b", "c"],
        ["c"],
    ]
    assert sleeps.delays == [0.5, 1.0]


async def test_whole_request_failures_are_retried_then_reported_unavailable() -> None:
    client = FakeBulk(
        api_error(503),
        EsConnectionError("refused"),
        {"errors": False, "items": [item("index", "a", 201)]},
    )
    sleeps = Sleeps()
    assert (await es_bulk.send(client, actions("a"), sleep=sleeps)).written == 1
    assert sleeps.delays == [0.2, 0.4]

    down = FakeBulk(*[api_error(429)] * 3)
    with pytest.raises(es_bulk.SearchIndexUnavailable, match="failed 3 times"):
        await es_bulk.send(down, actions("a"), retries=2, sleep=Sleeps())
    # The consumer loop retries ConnectionErrors (and so OSErrors) with its own backoff.
    assert issubclass(es_bulk.SearchIndexUnavailable, OSError)


async def test_items_still_overloaded_after_the_retries_are_unavailable() -> None:
    busy = {"type": "es_rejected_execution_exception", "reason": "queue full"}
    client = FakeBulk(*[{"errors": True, "items": [item("index", "a", 429, busy)]}] * 2)
    with pytest.raises(es_bulk.SearchIndexUnavailable, match="1 documents still refused"):
        await es_bulk.send(client, actions("a"), retries=1, sleep=Sleeps())


async def test_other_errors_are_raised_with_a_clear_message() -> None:
    mapping = {"type": "strict_dynamic_mapping_exception", "reason": "mapping set to strict"}
    client = FakeBulk(
        {
            "errors": True,
            "items": [item("index", "a", 400, mapping), item("index", "b", 400, mapping)],
        }
    )
    with pytest.raises(es_bulk.SearchIndexError) as info:
        await es_bulk.send(client, actions("a", "b"), sleep=Sleeps())
    assert str(info.value) == (
        "elasticsearch refused index ts-tasks/a: 400 strict_dynamic_mapping_exception: "
        "mapping set to strict (and 1 more)"
    )
    with pytest.raises(es_bulk.SearchIndexError, match="bulk request refused"):
        await es_bulk.send(FakeBulk(api_error(400)), actions("a"), sleep=Sleeps())


def test_backoff_doubles_up_to_the_cap() -> None:
    assert [es_bulk.backoff(n, base=0.2, cap=1.0) for n in (1, 2, 3, 4)] == [0.2, 0.4, 0.8, 1.0]


# Queries.


def test_task_query_is_scoped_to_the_tenant_and_filtered() -> None:
    since = datetime(2026, 11, 1, tzinfo=UTC)
    body = build_task_search(
        SearchQuery(
            q="mailbox -spam", tenant="acme", status="dead", queue="emails", since=since, limit=20
        )
    )
    boolean = body["query"]["bool"]
    assert boolean["must"] == [
        {
            "simple_query_string": {
                "query": "mailbox -spam",
                "fields": ["type.text^3", "labels_text^2", "errors^2", "payload_text"],
                "default_operator": "and",
            }
        }
    ]
    assert boolean["filter"] == [
        {"term": {"tenant": "acme"}},
        {"term": {"status": "dead"}},
        {"term": {"queue": "emails"}},
        {"range": {"created_at": {"gte": "2026-11-01T00:00:00+00:00"}}},
    ]
    assert body["size"] == 21
    assert body["sort"] == [{"_score": {"order": "desc"}}, {"task_id": {"order": "asc"}}]
    assert body["highlight"]["pre_tags"] == [START]
    assert "search_after" not in body


def test_cursor_becomes_search_after() -> None:
    cursor = encode_cursor("tasks", 1.25, "t9")
    body = build_task_search(SearchQuery(q="x", tenant="acme", cursor=cursor))
    assert body["search_after"] == [1.25, "t9"]
    logs = build_log_search(
        SearchQuery(
            q="x", tenant="acme", kind="logs", cursor=encode_cursor("logs", 0.5, ["t1", 2, 3])
        )
    )
    assert logs["search_after"] == [0.5, "t1", 2, 3]
    with pytest.raises(ValueError, match="cursor"):
        build_log_search(SearchQuery(q="x", tenant="a", kind="logs", cursor=cursor))
    with pytest.raises(ValueError, match="cursor"):
        decode_cursor("not-a-cursor!", "tasks")
    with pytest.raises(ValueError, match="cursor"):
        decode_cursor(encode_cursor("tasks", 1.0, "a\x00b"), "tasks")


def test_log_query_filters_by_tenant_queue_type_and_time_but_refuses_status() -> None:
    until = datetime(2026, 11, 28, tzinfo=UTC)
    body = build_log_search(
        SearchQuery(q="refused", tenant="acme", kind="logs", type="mail.send", until=until)
    )
    assert body["query"]["bool"]["filter"] == [
        {"term": {"tenant": "acme"}},
        {"term": {"type": "mail.send"}},
        {"range": {"at": {"lt": "2026-11-28T00:00:00+00:00"}}},
    ]
    assert body["query"]["bool"]["must"][0]["simple_query_string"]["fields"] == ["message"]
    with pytest.raises(UnsupportedFilter) as info:
        build_log_search(SearchQuery(q="x", tenant="acme", kind="logs", status="dead"))
    assert info.value.field == "status"


def test_snippets_are_escaped_with_marks() -> None:
    assert (
        render(f"<b>{START}boom{STOP}</b>\n  at  x") == "&lt;b&gt;<mark>boom</mark>&lt;/b&gt; at x"
    )
