"""`taskstream audit`: find commands that never had an effect."""

from __future__ import annotations

import asyncio
import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from taskstream.cli.client import default_data_dir, fail

console = Console()


def audit(
    settle: Annotated[
        float, typer.Option(help="Ignore commands younger than this many seconds (in flight).")
    ] = 10.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    data_dir: Annotated[
        Path | None, typer.Option(help="Embedded stack to audit (its stack.json).")
    ] = None,
) -> None:
    """Check that every command in the log has an effect in the events topic.

    Reads the commands and events topics from the start; a command older than
    `--settle` seconds that no event names as its cause was lost on its way to the
    scheduler. Exits 1 when any was lost.

    Example: `taskstream audit --settle 30`
    """
    from taskstream.audit import audit as run_audit
    from taskstream.settings import Settings

    overrides = {}
    if "TASKSTREAM_KAFKA_BOOTSTRAP" not in os.environ:
        stack_json = (data_dir or default_data_dir()) / "stack.json"
        if stack_json.exists():
            overrides["kafka_bootstrap"] = json.loads(stack_json.read_text())["kafka_bootstrap"]
    settings = Settings(**overrides)  # type: ignore[arg-type]
    try:
        with Progress(console=console, transient=True, disable=as_json) as bar:
            task = bar.add_task("reading the log", total=2 * settings.partitions)
            report = asyncio.run(
                run_audit(settings, settle_seconds=settle, progress=lambda *_: bar.advance(task))
            )
    except Exception as exc:  # the broker is down, or the address is wrong
        fail(f"cannot read the log at {settings.kafka_bootstrap}: {exc}")
    if as_json:
        doc = {"ok": report.ok, **{k: v for k, v in asdict(report).items() if k != "lost"}}
        doc["lost"] = [asdict(m) for m in report.lost]
        console.print_json(json.dumps(doc))
    else:
        console.print(
            f"{report.commands} commands: {report.with_effect} with an effect, "
            f"{report.heartbeats} heartbeats, {report.settling} still settling, "
            f"{report.undecodable} undecodable (dead-lettered), {len(report.lost)} lost"
        )
        if report.lost:
            table = Table("partition", "offset", "type", "task", "age (s)", title="Lost commands")
            for m in report.lost[:50]:
                table.add_row(
                    str(m.partition), str(m.offset), m.type, m.task_id, f"{m.age_seconds:.0f}"
                )
            console.print(table)
    if not report.ok:
        raise typer.Exit(1)
