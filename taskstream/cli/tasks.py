"""`taskstream submit | get | cancel`: the task commands, over the REST API."""

from __future__ import annotations

import json
import re
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from taskstream.cli.client import ApiClient, fail, resolve_target
from taskstream.cli.render import console, items_of, print_json, print_rows, print_task

TERMINAL = ("succeeded", "dead", "cancelled")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}
_EVENT_NOISE = ("event_id", "task_id", "causation_id", "correlation_id", "tenant")

ApiUrl = Annotated[
    str | None,
    typer.Option("--api-url", help="API base URL (default: $TASKSTREAM_API_URL, else stack.json)."),
]
ApiKey = Annotated[
    str | None,
    typer.Option(
        "--api-key", help="API key (default: $TASKSTREAM_API_KEY, else stack.json's dev key)."
    ),
]
DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir", help="Stack data dir whose stack.json to read (default: .taskstream)."
    ),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print the raw JSON instead of tables.")]


def parse_payload(raw: str | None) -> Any:
    """The PAYLOAD argument: inline JSON, `@file.json`, or `-` for stdin."""
    if raw is None:
        return {}
    source = "PAYLOAD"
    if raw == "-":
        raw, source = sys.stdin.read(), "PAYLOAD (stdin)"
    elif raw.startswith("@"):
        path = Path(raw[1:])
        try:
            raw, source = path.read_text(), f"PAYLOAD ({path})"
        except OSError as exc:
            raise typer.BadParameter(f"cannot read {path}: {exc.strerror}") from None
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise typer.BadParameter(
            f"{source} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None


def parse_labels(pairs: list[str]) -> dict[str, str]:
    """`["team=core", "env=dev"]` -> `{"team": "core", "env": "dev"}`."""
    labels: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"--label wants KEY=VALUE, got {pair!r}")
        labels[key.strip()] = value
    return labels


def parse_duration(text: str) -> float:
    """`"90"`, `"90s"`, `"5m"`, `"1.5h"`, `"250ms"` -> seconds."""
    match = _DURATION.match(text)
    if not match:
        raise typer.BadParameter(f"--delay wants seconds or a duration like 90s, 5m, 2h: {text!r}")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def parse_run_at(text: str) -> str:
    """An ISO 8601 time; without an offset it is local time. Returned with its offset."""
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(
            f"--run-at wants an ISO 8601 time such as 2030-01-31T09:00:00Z, got {text!r}"
        ) from None
    return (when if when.tzinfo else when.astimezone()).isoformat()


def submit(
    task_type: Annotated[str, typer.Argument(metavar="TYPE", help="Task type, e.g. `email.send`.")],
    payload: Annotated[
        str | None,
        typer.Argument(metavar="[PAYLOAD]", help="JSON payload, `@file.json`, or `-` for stdin."),
    ] = None,
    queue: Annotated[
        str | None,
        typer.Option(help="Queue whose workers run it (default: the type's queue, else default)."),
    ] = None,
    priority: Annotated[
        int | None, typer.Option(min=0, max=9, help="0 (least) to 9 (most urgent).")
    ] = None,
    max_attempts: Annotated[int | None, typer.Option(min=1, help="Attempts before dead.")] = None,
    timeout: Annotated[float | None, typer.Option(help="Seconds one attempt may run.")] = None,
    label: Annotated[
        list[str] | None, typer.Option("--label", "-l", help="KEY=VALUE label (repeatable).")
    ] = None,
    run_at: Annotated[str | None, typer.Option(help="Run at this ISO 8601 time.")] = None,
    delay: Annotated[str | None, typer.Option(help="Run after a delay: 30, 30s, 5m, 2h.")] = None,
    idempotency_key: Annotated[
        str | None,
        typer.Option(help="Resubmitting with the same key names the same task: no duplicate."),
    ] = None,
    wait: Annotated[bool, typer.Option("--wait", "-w", help="Wait for a final status.")] = False,
    wait_timeout: Annotated[float, typer.Option(help="Seconds --wait waits at most.")] = 300.0,
    api_url: ApiUrl = None,
    api_key: ApiKey = None,
    data_dir: DataDir = None,
) -> None:
    """Submit a task; print its id (with --wait, wait and print the finished task).

    With --wait the exit code is 0 when the task succeeded, 1 when it ended dead or
    cancelled, and 2 when --wait-timeout ran out first.

    Example: taskstream submit email.send '{"to": "ana@example.com"}' --priority 8 --wait
    """
    if run_at is not None and delay is not None:
        raise typer.BadParameter("give --run-at or --delay, not both")
    body: dict[str, Any] = {
        "type": task_type,
        "payload": parse_payload(payload),
        "labels": parse_labels(label or []),
    }
    optional = {
        "queue": queue,
        "priority": priority,
        "max_attempts": max_attempts,
        "timeout_seconds": timeout,
    }
    body.update({k: v for k, v in optional.items() if v is not None})
    if run_at is not None:
        body["run_at"] = parse_run_at(run_at)
    if delay is not None:
        body["delay_seconds"] = parse_duration(delay)
    if idempotency_key:
        body["idempotency_key"] = idempotency_key
    with ApiClient(resolve_target(api_url, api_key, data_dir)) as api:
        _, answer = api.call("POST", "/v1/tasks", body)
        task_id = str((answer or {}).get("id", ""))
        if not task_id:
            fail(f"the API accepted the task but returned no id: {answer!r}")
        if not wait:
            console.print(task_id, highlight=False)
            return
        task = _wait_for(api, task_id, wait_timeout)
    print_task(task)
    raise typer.Exit(0 if task.get("status") == "succeeded" else 1)


def _wait_for(api: ApiClient, task_id: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    status = "submitted"
    with console.status(f"task {task_id}: {status}") as spinner:
        while time.monotonic() < deadline:
            # 404 until the read model has the task: the projector is a moment behind the log.
            code, task = api.call("GET", f"/v1/tasks/{task_id}", allow=(404,))
            if code != 404 and isinstance(task, dict):
                status = str(task.get("status", status))
                if status in TERMINAL:
                    return task
                spinner.update(f"task {task_id}: {status}")
            time.sleep(0.25)
    console.print(f"task {task_id} is still {status} after {timeout:g} s", highlight=False)
    raise typer.Exit(2)


def get(
    task_id: Annotated[str, typer.Argument(metavar="ID", help="Task id.")],
    events: Annotated[bool, typer.Option("--events", "-e", help="Also its event history.")] = False,
    as_json: AsJson = False,
    api_url: ApiUrl = None,
    api_key: ApiKey = None,
    data_dir: DataDir = None,
) -> None:
    """Show a task: status, attempts and their errors (and, with --events, its history).

    Example: taskstream get 6f1c2d1e-0b7a-4c1e-9a51-2d4f0f3b9c10 --events
    """
    with ApiClient(resolve_target(api_url, api_key, data_dir)) as api:
        _, task = api.call("GET", f"/v1/tasks/{task_id}")
        history = api.call("GET", f"/v1/tasks/{task_id}/events")[1] if events else None
    if as_json:
        print_json({"task": task, "events": history} if events else task)
        return
    print_task(task)
    if events:
        console.print()
        print_rows("events", items_of(history), skip=_EVENT_NOISE)


def cancel(
    task_id: Annotated[str, typer.Argument(metavar="ID", help="Task id.")],
    reason: Annotated[str, typer.Option(help="Why; kept in the task's history.")] = "",
    api_url: ApiUrl = None,
    api_key: ApiKey = None,
    data_dir: DataDir = None,
) -> None:
    """Cancel a task: a waiting one at once, a running one once its worker stops it.

    A task that already finished stays as it is (the refusal is in its events).

    Example: taskstream cancel 6f1c2d1e-0b7a-4c1e-9a51-2d4f0f3b9c10 --reason "duplicate"
    """
    with ApiClient(resolve_target(api_url, api_key, data_dir)) as api:
        _, answer = api.call("POST", f"/v1/tasks/{task_id}/cancel", {"reason": reason})
    console.print(f"cancel requested for {task_id}", highlight=False)
    if answer:
        print_json(answer)
