"""Postgres full-text search without a server: the SQL built, and which tasks get rows."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from projections.search.backend import SearchQuery, encode_cursor
from projections.search.pg import build_log_query, build_task_query
from projections.search.pg_index import search_rows
from taskstream.domain.state import Attempt
from tests.unit.test_search_es import state


def test_task_query_binds_the_tenant_first_and_every_filter() -> None:
    since = datetime(2026, 11, 1, tzinfo=UTC)
    until = datetime(2026, 11, 2, tzinfo=UTC)
    sql = build_task_query(
        SearchQuery(
            q="mailbox", tenant="acme", status="dead", queue="emails", type="mail.send",
            since=since, until=until, limit=10,
        )
    )  # fmt: skip
    assert sql.args == ("acme", "mailbox", "dead", "emails", "mail.send", since, until, 11)
    assert "s.tenant = $1 AND t.tenant = $1 AND s.document @@ q.query" in sql.text
    assert "t.status = $3 AND t.queue = $4 AND t.type = $5" in sql.text
    assert "t.created_at >= $6 AND t.created_at < $7" in sql.text
    assert "websearch_to_tsquery('simple', $2)" in sql.text
    assert "ORDER BY score DESC, id LIMIT $8" in sql.text


def test_task_query_continues_after_the_cursor() -> None:
    cursor = encode_cursor("tasks", 0.75, "t5")
    sql = build_task_query(SearchQuery(q="x", tenant="acme", cursor=cursor, limit=5))
    assert sql.args == ("acme", "x", 0.75, "t5", 6)
    assert "WHERE m.score < $3 OR (m.score = $3 AND m.id > $4)" in sql.text
    with pytest.raises(ValueError, match="cursor"):
        build_task_query(SearchQuery(q="x", tenant="acme", cursor=encode_cursor("logs", 1, "t")))
    with pytest.raises(ValueError, match="cursor"):
        build_task_query(SearchQuery(q="x", tenant="acme", cursor=encode_cursor("tasks", 1, [1])))


def test_log_query_is_scoped_to_the_tenant_and_pages_by_position() -> None:
    cursor = encode_cursor("logs", 0.5, ["t1", 2, 7])
    sql = build_log_query(
        SearchQuery(q="refused", tenant="acme", kind="logs", status="dead", cursor=cursor, limit=3)
    )
    assert sql.args == ("acme", "refused", "dead", 0.5, "t1", 2, 7, 4)
    assert "l.tenant = $1 AND l.search @@ q.query AND t.status = $3" in sql.text
    assert "LEFT JOIN tasks t ON t.id = l.task_id AND t.tenant = l.tenant" in sql.text
    assert "(m.task_id, m.attempt, m.seq) > ($5, $6::int, $7::int)" in sql.text
    with pytest.raises(ValueError, match="cursor"):
        build_log_query(
            SearchQuery(
                q="x", tenant="a", kind="logs", cursor=encode_cursor("logs", 1, ["t", True, 1])
            )
        )


def test_rows_only_for_new_tasks_and_changed_errors() -> None:
    before = state()
    moved = replace(before, version=10)  # same text, newer version: nothing to write
    failed_again = replace(
        before,
        version=11,
        attempts=(
            *before.attempts,
            Attempt(
                2, "w1", datetime(2026, 11, 27, 9, tzinfo=UTC), None, "Timeout", None, "failed"
            ),
        ),
    )
    new = replace(before, id="t2", labels={"team": "x", "env": "prod"})
    rows = search_rows({"t1": before}, [moved, new], max_chars=1000)
    assert [r["task_id"] for r in rows] == ["t2"]
    assert rows[0] == {
        "task_id": "t2",
        "tenant": "acme",
        "version": 9,
        "type": "mail.send",
        "labels": "team x env prod",
        "errors": "SMTPError: mailbox unavailable Traceback (most recent call last):\n  smtplib",
        "payload": "ada@example.com 7 zebra",
    }
    rows = search_rows({"t1": before}, [failed_again], max_chars=1000)
    assert [(r["task_id"], r["version"]) for r in rows] == [("t1", 11)]
    assert rows[0]["errors"].endswith("Timeout")
