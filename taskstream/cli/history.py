"""`taskstream inspect | logs`: a task as it was at any point, and its attempts' log lines."""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote

import typer
from rich.markup import escape

from taskstream.cli.client import ApiClient, resolve_target
from taskstream.cli.render import console, items_of, print_json, print_task
from taskstream.cli.tasks import ApiKey, ApiUrl, AsJson, DataDir

FOLLOW_EVERY_SECONDS = 0.5
PAGE = 1000
_LEVEL_STYLE = {"debug": "dim", "warning": "yellow", "error": "red", "critical": "bold red"}


def parse_at(text: str) -> str:
    """`--at`: a version number as is, or an ISO 8601 time (local time if no offset)."""
    value = text.strip()
    if value.isascii() and value.isdigit():
        return value
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(
            f"--at wants a version number (e.g. 3) or an ISO 8601 time such as "
            f"2030-01-31T09:00:00Z, got {text!r}"
        ) from None
    return (when if when.tzinfo else when.astimezone()).isoformat()


def inspect(
    task_id: Annotated[str, typer.Argument(metavar="ID", help="Task id.")],
    at: Annotated[
        str,
        typer.Option("--at", help="A version number (1, 2, ...) or an ISO 8601 time."),
    ],
    as_json: AsJson = False,
    api_url: ApiUrl = None,
    api_key: ApiKey = None,
    data_dir: DataDir = None,
) -> None:
    """Show a task as it was at a version or a moment (time travel over its events).

    The state is folded from the task's archived events with the scheduler's own state
    machine, so it is exactly what the scheduler held then.

    Example: taskstream inspect 6f1c2d1e-0b7a-4c1e-9a51-2d4f0f3b9c10 --at 3
    """
    point = parse_at(at)
    with ApiClient(resolve_target(api_url, api_key, data_dir)) as api:
        _, task = api.call("GET", f"/v1/tasks/{task_id}/state?at={quote(point)}")
    if as_json:
        print_json(task)
        return
    when = task.pop("as_of", {}) if isinstance(task, dict) else {}
    console.print(
        f"[bold]as of version {when.get('version')}[/] ({when.get('at')})", highlight=False
    )
    print_task(task)


def logs(
    task_id: Annotated[str, typer.Argument(metavar="ID", help="Task id.")],
    attempt: Annotated[
        int | None, typer.Option("--attempt", "-a", min=1, help="Only this attempt.")
    ] = None,
    follow: Annotated[
        bool,
        typer.Option("--follow", "-f", help="Keep printing new lines (every 0.5 s); Ctrl-C stops."),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    api_url: ApiUrl = None,
    api_key: ApiKey = None,
    data_dir: DataDir = None,
) -> None:
    """Print the log lines a task's attempts wrote, in order (with --follow, as they come).

    Example: taskstream logs 6f1c2d1e-0b7a-4c1e-9a51-2d4f0f3b9c10 --attempt 2 --follow
    """
    position = (0, 0)
    try:
        with ApiClient(resolve_target(api_url, api_key, data_dir)) as api:
            while True:
                lines = _page(api, task_id, attempt, position)
                for line in lines:
                    _print_line(line, as_json)
                    position = (int(line["attempt"]), int(line["seq"]))
                if len(lines) == PAGE:
                    continue
                if not follow:
                    return
                time.sleep(FOLLOW_EVERY_SECONDS)
    except KeyboardInterrupt:
        raise typer.Exit(0) from None


def _page(
    api: ApiClient, task_id: str, attempt: int | None, position: tuple[int, int]
) -> list[Any]:
    after_attempt, after_seq = position
    query = f"limit={PAGE}&after_seq={after_seq}"
    query += f"&attempt={attempt}" if attempt is not None else f"&after_attempt={after_attempt}"
    _, doc = api.call("GET", f"/v1/tasks/{task_id}/logs?{query}")
    return items_of(doc)


def _print_line(line: Any, as_json: bool) -> None:
    if as_json or not isinstance(line, dict):
        typer.echo(json.dumps(line, ensure_ascii=False))
        return
    level = str(line.get("level", ""))
    style = _LEVEL_STYLE.get(level, "")
    tag = f"[{style}]{level:<7}[/]" if style else f"{level:<7}"
    console.print(
        f"[dim]{line.get('at')}[/] #{line.get('attempt')}.{line.get('seq')} {tag} "
        f"{escape(str(line.get('message')))}",
        highlight=False,
        markup=True,
        soft_wrap=True,
    )
