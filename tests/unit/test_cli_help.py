"""Every CLI command explains itself, and the CLI starts without the heavy service imports."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from taskstream.cli import app

runner = CliRunner()

COMMANDS = [
    ([], "event-sourced distributed task scheduler"),
    (["dev"], "embedded stack"),
    (["dev", "status"], "running stack"),
    (["submit"], "Submit a task"),
    (["get"], "Show a task"),
    (["cancel"], "Cancel a task"),
    (["dlq"], "Dead-letter queue"),
    (["dlq", "list"], "List dead tasks"),
    (["dlq", "redrive"], "Run dead tasks again"),
    (["inspect"], "as it was at a version"),
    (["logs"], "log lines"),
    (["schedules"], "Cron schedules"),
    (["schedules", "create"], "Create a schedule"),
    (["schedules", "list"], "List schedules"),
    (["schedules", "get"], "Show a schedule"),
    (["schedules", "pause"], "Pause a schedule"),
    (["schedules", "resume"], "Resume a paused schedule"),
    (["schedules", "delete"], "Delete a schedule"),
    (["queues"], "Queues of your tenant"),
    (["queues", "pause"], "Pause a queue"),
    (["queues", "resume"], "Resume a paused queue"),
    (["queues", "limit"], "concurrency limit"),
    (["worker"], "Run a worker"),
    (["scheduler"], "Run the scheduler"),
    (["api"], "REST"),
    (["projector"], "read models"),
]


@pytest.mark.parametrize(("args", "purpose"), COMMANDS, ids=lambda v: " ".join(v) or "root")
def test_help_exits_0_and_states_the_purpose(args: list[str], purpose: str) -> None:
    result = runner.invoke(app, [*args, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert purpose in result.output


@pytest.mark.parametrize("args", [c for c, _ in COMMANDS if c], ids=" ".join)
def test_help_shows_an_example(args: list[str]) -> None:
    result = runner.invoke(app, [*args, "--help"], env={"COLUMNS": "200"})
    assert "Example:" in result.output


def test_help_does_not_import_the_services() -> None:
    code = (
        "import sys\n"
        "from taskstream.cli import main\n"
        "sys.argv = ['taskstream', '--help']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "heavy = ('faust', 'aiokafka', 'fastapi', 'asyncpg')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    ).stdout
    assert out.strip().splitlines()[-1] == "[]"
