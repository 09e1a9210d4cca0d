"""Attempts, log lines and time travel on the live embedded stack."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from api.schemas import TaskOut
from projections.timetravel import envelope_of
from taskstream.cli import app
from taskstream.domain.machine import fold
from tests.integration.helpers import api, events, eventually, submit_many, task, wait_terminal

pytestmark = pytest.mark.integration
runner = CliRunner()


def shown(doc: dict[str, Any]) -> dict[str, Any]:
    """A task document as the API's `TaskOut` serialises it (drops `as_of`)."""
    return TaskOut.model_validate(doc).model_dump(mode="json")


async def get_json(client: httpx.AsyncClient, path: str, **params: Any) -> Any:
    resp = await client.get(path, params=params)
    assert resp.status_code == 200, resp.text
    return resp.json()


async def test_time_travel_attempts_and_logs_of_a_retried_task(stack: dict[str, Any]) -> None:
    body = {
        "type": "demo.fail",
        "payload": {"failures": 2},
        "max_attempts": 3,
        "backoff_base_seconds": 0.1,
    }
    async with api(stack) as client:
        (task_id,) = await submit_many(client, [body])
        assert (await wait_terminal(stack["postgres_dsn"], [task_id]))[task_id] == "succeeded"
        final = await task(client, task_id)
        history = [envelope_of(e) for e in await events(client, task_id)]
        versions = sorted({ev.version for ev in history if ev.version > 0})
        assert versions == list(range(1, final["version"] + 1))

        for v in versions:
            state = await get_json(client, f"/v1/tasks/{task_id}/state", at=str(v))
            expected = fold([ev for ev in history if ev.version <= v])
            assert expected is not None
            assert state["as_of"]["version"] == v
            assert shown(state) == shown(expected.as_dict()), f"version {v}"
        last = await get_json(client, f"/v1/tasks/{task_id}/state", at=str(versions[-1]))
        assert shown(last) == shown(final)

        # By time: each event's moment shows the state that event made (or a later one
        # of the same instant).
        for ev in history:
            if ev.version == 0:
                continue
            state = await get_json(
                client, f"/v1/tasks/{task_id}/state", at=ev.occurred_at.isoformat()
            )
            assert state["version"] >= ev.version
        before = await client.get(
            f"/v1/tasks/{task_id}/state", params={"at": "2000-01-01T00:00:00Z"}
        )
        assert before.status_code == 404 and "did not exist yet" in before.json()["detail"]
        bad = await client.get(f"/v1/tasks/{task_id}/state", params={"at": "soon"})
        assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "at"

        attempts = await get_json(client, f"/v1/tasks/{task_id}/attempts")
        assert attempts["items"] == final["attempts"]
        assert [a["outcome"] for a in attempts["items"]] == ["failed", "failed", "succeeded"]

        async def two_lines() -> list[dict[str, Any]] | None:
            found = (await get_json(client, f"/v1/tasks/{task_id}/logs"))["items"]
            return found if len(found) >= 2 else None

        lines = await eventually(two_lines, timeout=30)
        assert [(x["attempt"], x["seq"]) for x in lines] == [(1, 1), (2, 1)]
        assert "attempt 1 fails on purpose" in lines[0]["message"]
        assert "attempt 2 fails on purpose" in lines[1]["message"]
        second = await get_json(client, f"/v1/tasks/{task_id}/logs", attempt=2)
        assert second["items"] == lines[1:]


async def test_log_lines_of_one_attempt_come_in_order(stack: dict[str, Any]) -> None:
    async with api(stack) as client:
        (task_id,) = await submit_many(
            client, [{"type": "demo.sleep", "payload": {"seconds": 0.1}}]
        )
        assert (await wait_terminal(stack["postgres_dsn"], [task_id]))[task_id] == "succeeded"

        async def both() -> list[dict[str, Any]] | None:
            found = (await get_json(client, f"/v1/tasks/{task_id}/logs"))["items"]
            return found if len(found) >= 2 else None

        lines = await eventually(both, timeout=30)
        assert [x["message"] for x in lines] == ["sleeping 0.1s", "slept 0.1s"]
        assert [x["seq"] for x in lines] == [1, 2]
        assert lines[0]["at"] <= lines[1]["at"]
        tail = await get_json(client, f"/v1/tasks/{task_id}/logs", after_attempt=1, after_seq=1)
        assert tail["items"] == lines[1:]


async def test_cli_inspect_and_logs(stack: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    async with api(stack) as client:
        (task_id,) = await submit_many(
            client, [{"type": "demo.sleep", "payload": {"seconds": 0.05}}]
        )
        await wait_terminal(stack["postgres_dsn"], [task_id])

        async def projected() -> bool:
            found = (await get_json(client, f"/v1/tasks/{task_id}/logs"))["items"]
            return len(found) == 2

        await eventually(projected, timeout=30)
    target = ["--api-url", stack["api_url"], "--api-key", stack["api_key"]]
    env = {"COLUMNS": "200"}
    first = runner.invoke(app, ["inspect", task_id, "--at", "1", *target], env=env)
    assert first.exit_code == 0, first.output
    assert "as of version 1" in first.output and "pending" in first.output
    bad = runner.invoke(app, ["inspect", task_id, "--at", "soon", *target], env=env)
    assert bad.exit_code != 0 and "--at" in bad.output
    logs = runner.invoke(app, ["logs", task_id, *target], env=env)
    assert logs.exit_code == 0, logs.output
    assert logs.output.index("sleeping 0.05s") < logs.output.index("slept 0.05s")

    # --follow polls until Ctrl-C: the second wait is interrupted.
    naps: list[float] = []

    def nap(seconds: float) -> None:
        naps.append(seconds)
        if len(naps) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr("taskstream.cli.history.time.sleep", nap)
    followed = runner.invoke(app, ["logs", task_id, "--follow", "--json", *target], env=env)
    assert followed.exit_code == 0, followed.output
    assert naps == [0.5, 0.5]
    assert followed.output.count('"seq"') == 2
