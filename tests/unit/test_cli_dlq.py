"""`taskstream dlq`: what it asks the API, on a fake client."""

from __future__ import annotations

from typing import Any

import pytest
from typer.testing import CliRunner

from taskstream.cli import app
from taskstream.cli import dlq as dlq_cli

runner = CliRunner()


class FakeApi:
    """Answers like the API: 250 dead tasks over three pages; records every call."""

    calls: list[tuple[str, str, Any]] = []

    def __init__(self, target: Any) -> None:
        self.dead = [{"id": f"d{i}", "queue": "q", "type": "x", "attempts": []} for i in range(250)]

    def __enter__(self) -> FakeApi:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        FakeApi.calls.append((method, path, body))
        if method == "GET":
            start = int(path.partition("cursor=")[2] or 0)
            page = self.dead[start : start + 100]
            more = start + 100 < len(self.dead)
            return 200, {"items": page, "next_cursor": str(start + 100) if more else None}
        return 202, {"ids": body["ids"], "not_found": [], "unwritten": []}


@pytest.fixture(autouse=True)
def fake_api(monkeypatch: pytest.MonkeyPatch) -> None:
    FakeApi.calls = []
    monkeypatch.setattr(dlq_cli, "ApiClient", FakeApi)


def test_redrive_all_lists_every_page_then_redrives_in_chunks() -> None:
    result = runner.invoke(app, ["dlq", "redrive", "--all", "--queue", "q", "--reason", "ok"])
    assert result.exit_code == 0, result.output
    posts = [body for method, _, body in FakeApi.calls if method == "POST"]
    assert [len(b["ids"]) for b in posts] == [100, 100, 50]
    assert all(b["reason"] == "ok" for b in posts)
    assert "redrive requested for 250 task(s)" in result.output


def test_redrive_ids_sends_them_once_each() -> None:
    result = runner.invoke(app, ["dlq", "redrive", "a", "b", "a"])
    assert result.exit_code == 0, result.output
    assert FakeApi.calls == [("POST", "/v1/dlq/redrive", {"ids": ["a", "b"], "reason": ""})]


@pytest.mark.parametrize(
    "args",
    [["dlq", "redrive"], ["dlq", "redrive", "a", "--all"], ["dlq", "redrive", "a", "-q", "x"]],
)
def test_redrive_wants_ids_or_all(args: list[str]) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and not FakeApi.calls


def test_list_shows_the_dead_tasks() -> None:
    result = runner.invoke(app, ["dlq", "list", "--limit", "3"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "d0" in result.output and "d3" not in result.output
