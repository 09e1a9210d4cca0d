"""Rich rendering of API documents (tasks, attempts, events) whatever fields they carry."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.table import Table

console = Console()

_STATUS_STYLE = {
    "succeeded": "green",
    "dead": "red",
    "cancelled": "yellow",
    "running": "cyan",
    "pending": "blue",
    "scheduled": "magenta",
}


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def items_of(doc: Any) -> list[Any]:
    """The list inside a page (`{"items": [...]}`) or the list itself."""
    if isinstance(doc, dict):
        for key in ("items", "events", "data", "results"):
            if isinstance(doc.get(key), list):
                return list(doc[key])
        return []
    return list(doc) if isinstance(doc, list) else []


def print_json(doc: Any) -> None:
    """Print `doc` as indented JSON (plain when piped)."""
    console.print_json(json.dumps(doc, default=str))


def print_task(task: Any) -> None:
    """A task as a field/value table, then its attempts as a table of their own."""
    if not isinstance(task, dict):
        print_json(task)
        return
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for key, value in task.items():
        if key == "attempts" and isinstance(value, list) and value:
            continue
        text = _cell(value)
        if key == "status":
            text = f"[{_STATUS_STYLE.get(text, 'white')}]{text}[/]"
        table.add_row(key, text)
    console.print(table)
    attempts = task.get("attempts")
    if isinstance(attempts, list) and attempts:
        console.print()
        print_rows("attempts", attempts, skip=("traceback",))


def print_rows(title: str, rows: list[Any], *, skip: tuple[str, ...] = ()) -> None:
    """A list of dicts as a table whose columns are the union of their keys."""
    columns: list[str] = []
    for row in rows:
        if isinstance(row, dict):
            columns += [k for k in row if k not in columns and k not in skip]
    table = Table(title=title, title_justify="left", show_lines=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        if isinstance(row, dict):
            table.add_row(*(_cell(row.get(c)) for c in columns))
    console.print(table)
