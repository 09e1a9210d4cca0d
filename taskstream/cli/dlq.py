"""`taskstream dlq list | redrive`: the dead-letter queue, over the REST API."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from taskstream.cli.client import ApiClient, fail, resolve_target
from taskstream.cli.render import console, items_of, print_json, print_rows
from taskstream.cli.tasks import ApiKey, ApiUrl, AsJson, DataDir

app = typer.Typer(
    help="Dead-letter queue: list dead tasks with their errors, and redrive them.\n\n"
    "Example: taskstream dlq list --queue emails",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)

Queue = Annotated[str | None, typer.Option("--queue", "-q", help="Only tasks of this queue.")]
TaskType = Annotated[str | None, typer.Option("--type", "-t", help="Only tasks of this type.")]
# Ids per redrive request: well under the API's default page_size_max (500).
_CHUNK = 100
_PAGE = 100


def _dead(api: ApiClient, queue: str | None, type_: str | None, limit: int | None) -> list[Any]:
    """Dead tasks matching the filter, following the cursor (up to `limit` when given)."""
    params: dict[str, Any] = {k: v for k, v in (("queue", queue), ("type", type_)) if v}
    found: list[Any] = []
    cursor: str | None = None
    while limit is None or len(found) < limit:
        page_params = {**params, "limit": _PAGE, **({"cursor": cursor} if cursor else {})}
        _, page = api.call("GET", f"/v1/dlq?{urlencode(page_params)}")
        found += items_of(page)
        cursor = page.get("next_cursor") if isinstance(page, dict) else None
        if not cursor:
            break
    return found if limit is None else found[:limit]


def _summary(task: dict[str, Any]) -> dict[str, Any]:
    attempts = task.get("attempts") or []
    last = attempts[-1] if attempts else {}
    return {
        "id": task.get("id"),
        "queue": task.get("queue"),
        "type": task.get("type"),
        "attempts": len(attempts),
        "redrives": task.get("redrives", 0),
        "last error": last.get("error"),
        "updated": task.get("updated_at"),
    }


@app.command("list")
def list_dead(
    queue: Queue = None,
    type_: TaskType = None,
    limit: Annotated[int, typer.Option(min=1, help="Show at most this many.")] = 50,
    as_json: AsJson = False,
    api_url: ApiUrl = None,
    api_key: ApiKey = None,
    data_dir: DataDir = None,
) -> None:
    """List dead tasks, newest first, with their last error (--json: every attempt's
    error and traceback).

    Example: taskstream dlq list --queue emails --type email.send
    """
    with ApiClient(resolve_target(api_url, api_key, data_dir)) as api:
        tasks = _dead(api, queue, type_, limit)
    if as_json:
        print_json(tasks)
        return
    if not tasks:
        console.print("no dead tasks", highlight=False)
        return
    print_rows("dead tasks", [_summary(t) for t in tasks])


@app.command("redrive")
def redrive(
    ids: Annotated[
        list[str] | None, typer.Argument(metavar="[ID]...", help="Dead task ids to redrive.")
    ] = None,
    all_: Annotated[
        bool, typer.Option("--all", help="Every dead task (narrow with --queue/--type).")
    ] = False,
    queue: Queue = None,
    type_: TaskType = None,
    reason: Annotated[str, typer.Option(help="Why; kept in each task's history.")] = "",
    api_url: ApiUrl = None,
    api_key: ApiKey = None,
    data_dir: DataDir = None,
) -> None:
    """Run dead tasks again, each with a fresh budget of attempts (their history is kept).

    Give task ids, or --all (with --queue/--type to narrow it). The command returns once
    the redrive commands are in the log; `taskstream get ID` shows what followed. Exit
    code 1 when some could not be written (run it again).

    Example: taskstream dlq redrive --all --queue emails --reason "SMTP fixed"
    """
    if ids and all_:
        raise typer.BadParameter("give task ids or --all, not both")
    if not ids and not all_:
        raise typer.BadParameter("give task ids to redrive, or --all")
    if ids and (queue or type_):
        raise typer.BadParameter("--queue and --type go with --all")
    with ApiClient(resolve_target(api_url, api_key, data_dir)) as api:
        wanted = list(dict.fromkeys(ids or [t["id"] for t in _dead(api, queue, type_, None)]))
        if not wanted:
            console.print("no dead tasks to redrive", highlight=False)
            return
        done, missing, unwritten = _redrive_chunks(api, wanted, reason)
    console.print(f"redrive requested for {len(done)} task(s)", highlight=False)
    if missing:
        console.print(f"not found: {', '.join(missing)}", highlight=False)
    if unwritten:
        fail(f"not written (run again): {', '.join(unwritten)}")


def _redrive_chunks(
    api: ApiClient, wanted: list[str], reason: str
) -> tuple[list[str], list[str], list[str]]:
    done: list[str] = []
    missing: list[str] = []
    unwritten: list[str] = []
    columns = (TextColumn("redriving"), BarColumn(), MofNCompleteColumn())
    # A bar only when there is something to watch: one request is done in a blink.
    with Progress(*columns, console=console, disable=len(wanted) <= _CHUNK) as bar:
        job = bar.add_task("redrive", total=len(wanted))
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            _, answer = api.call("POST", "/v1/dlq/redrive", {"ids": chunk, "reason": reason})
            answer = answer if isinstance(answer, dict) else {}
            done += answer.get("ids", [])
            missing += answer.get("not_found", [])
            unwritten += answer.get("unwritten", [])
            bar.advance(job, len(chunk))
    return done, missing, unwritten
