"""What `taskstream dev` prints once the stack is up, and the table `dev status` shows."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from rich.console import Group
from rich.panel import Panel
from rich.table import Table

from taskstream.cli.render import console
from taskstream.stack.children import pid_alive


def _short(path: str) -> str:
    """A path relative to the working directory when it is inside it."""
    try:
        return str(Path(path).relative_to(Path.cwd())) or "."
    except ValueError:
        return path


def services_table(state: dict[str, Any]) -> Table:
    """Every child with its PID, liveness, restarts and log."""
    table = Table(title="children", title_justify="left")
    for column in ("name", "kind", "pid", "alive", "restarts", "port", "log"):
        table.add_column(column)
    for name, child in state.get("services", {}).items():
        pid = child.get("pid")
        alive = isinstance(pid, int) and pid_alive(pid)
        table.add_row(
            name,
            str(child.get("kind", "")),
            str(pid),
            "[green]yes[/]" if alive else "[red]no[/]",
            str(child.get("restarts", 0)),
            str(child.get("port") or "-"),
            _short(str(child.get("log", ""))),
        )
    return table


def print_summary(state: dict[str, Any], seconds: float) -> None:
    """A short, friendly 'ready' panel: URLs, the dev key, logs, how to stop."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold cyan")
    grid.add_column()
    services = state.get("services", {})
    if "api" in services:
        grid.add_row("API", f"{state['api_url']}  (docs: {state['api_url']}/docs)")
    grid.add_row("API key", state["api_key"])
    grid.add_row("Kafka", state["kafka_bootstrap"])
    grid.add_row("Postgres", state["postgres_dsn"])
    grid.add_row("Redis", state["redis_url"])
    running = [f"{n} ({c['pid']})" for n, c in services.items()]
    grid.add_row("Running", ", ".join(running) or "-")
    grid.add_row("Logs", f"{_short(state['log_dir'])}/<name>.log")
    grid.add_row("State", f"{_short(state['data_dir'])}/stack.json  (taskstream dev status)")
    hint = "Stop: Ctrl-C" + ("" if os.isatty(0) else f" or kill -INT {state['supervisor_pid']}")
    body: list[Any] = [grid, ""]
    if "api" in services:
        body.append('Submit: taskstream submit <type> \'{"key": "value"}\' --wait')
    body.append(hint)
    console.print(
        Panel(
            Group(*body),
            title=f"[bold green]Taskstream dev stack ready[/] in {seconds:.1f} s",
            title_align="left",
        )
    )
