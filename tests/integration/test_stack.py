"""The embedded stack supervisor: stack.json, `taskstream dev status`, restarts of dead children."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
CHILDREN = {"broker", "postgres", "valkey", "api", "scheduler", "worker", "projector"}
ENDPOINT_KEYS = {"api_url", "api_key", "kafka_bootstrap", "postgres_dsn", "redis_url"}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _current(stack: dict[str, Any]) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((Path(stack["data_dir"]) / "stack.json").read_text())
    return doc


def test_stack_json_describes_every_endpoint_and_child(stack: dict[str, Any]) -> None:
    doc = _current(stack)
    assert ENDPOINT_KEYS | {"data_dir", "supervisor_pid", "services"} <= doc.keys()
    assert all(isinstance(doc[k], str) and doc[k] for k in ENDPOINT_KEYS)
    assert doc["api_url"].startswith("http://127.0.0.1:")
    assert doc["postgres_dsn"].endswith("/taskstream")
    assert _alive(doc["supervisor_pid"])
    assert set(doc["services"]) == CHILDREN
    for name, child in doc["services"].items():
        assert isinstance(child["pid"], int) and _alive(child["pid"]), name
        assert isinstance(child["restarts"], int), name
        assert Path(child["log"]).is_file(), name


def test_dev_key_is_kept_in_the_data_dir(stack: dict[str, Any]) -> None:
    key_file = Path(stack["data_dir"]) / "dev_api_key"
    assert key_file.read_text().strip() == stack["api_key"]


def test_dev_status_prints_the_stack(stack: dict[str, Any]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "taskstream", "dev", "status", "--data-dir", stack["data_dir"]],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "COLUMNS": "200"},
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert stack["api_key"] in result.stdout
    assert stack["kafka_bootstrap"] in result.stdout
    for name in CHILDREN:
        assert name in result.stdout


def test_dev_status_without_a_stack_exits_1(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "taskstream", "dev", "status", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert result.returncode == 1
    assert "no stack running" in result.stderr


def test_a_killed_service_is_restarted(stack: dict[str, Any]) -> None:
    before = _current(stack)["services"]["projector"]
    os.kill(before["pid"], signal.SIGKILL)
    deadline = time.monotonic() + 30
    after = before
    while time.monotonic() < deadline:
        after = _current(stack)["services"]["projector"]
        if after["pid"] != before["pid"]:
            break
        time.sleep(0.2)
    assert after["pid"] != before["pid"], "projector was not restarted within 30 s"
    assert after["restarts"] >= before["restarts"] + 1
    assert _alive(after["pid"])


async def _parallel_count(dsn: str) -> tuple[str, int, str]:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            # Make the planner choose workers for even a tiny table.
            for setting in (
                "parallel_setup_cost = 0",
                "parallel_tuple_cost = 0",
                "min_parallel_table_scan_size = 0",
                "max_parallel_workers_per_gather = 2",
            ):
                await conn.execute(f"SET LOCAL {setting}")
            plan = "\n".join(
                r[0] for r in await conn.fetch("EXPLAIN SELECT count(*) FROM task_events")
            )
            count = await conn.fetchval("SELECT count(*) FROM task_events")
        config = await conn.fetchval("SHOW default_text_search_config")
        return plan, count, config
    finally:
        await conn.close()


def test_parallel_queries_run_on_the_embedded_postgres(stack: dict[str, Any]) -> None:
    """Parallel workers restore the leader's settings; a doubled `pg_catalog.` prefix in the
    text-search default (once written by initdb) made every parallel query fail."""
    import asyncio

    plan, count, config = asyncio.run(_parallel_count(stack["postgres_dsn"]))
    assert config == "pg_catalog.english"
    assert "Gather" in plan
    assert count >= 0
