"""`taskstream schedules create | list | get | pause | resume | delete`, over the REST API."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import typer

from taskstream.cli.client import ApiClient, resolve_target
from taskstream.cli.render import console, items_of, print_json, print_rows
from taskstream.cli.tasks import ApiKey, ApiUrl, AsJson, DataDir, parse_labels, parse_payload

app = typer.Typer(
    help="Cron schedules: submit a task at every due time of a cron expression.\n\n"
    "Example: taskstream schedules create '*/5 * * * *' reports.build --timezone Europe/Berlin",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)

ScheduleId = Annotated[str, typer.Argument(metavar="ID", help="Schedule id (`sch_…`).")]
_LIST_COLUMNS = ("id", "cron", "timezone", "paused", "next_due_at", "fired_count")


@app.command()
def create(
    cron: Annotated[
        str,
        typer.Argument(help="5 fields, or 6 with SECONDS LAST: `* * * * * *` fires every second."),
    ],
    task_type: Annotated[str, typer.Argument(metavar="TYPE", help="Task type to submit.")],
    payload: Annotated[
        str | None,
        typer.Argument(metavar="[PAYLOAD]", help="JSON payload, `@file.json`, or `-` for stdin."),
    ] = None,
    timezone: Annotated[str, typer.Option(help="IANA zone the cron is read in.")] = "UTC",
    queue: Annotated[
        str | None,
        typer.Option(help="Queue whose workers run the tasks (default: the type's, else default)."),
    ] = None,
    priority: Annotated[int | None, typer.Option(min=0, max=9, help="0 to 9.")] = None,
    label: Annotated[
        list[str] | None, typer.Option("--label", "-l", help="KEY=VALUE label (repeatable).")
    ] = None,
    misfire: Annotated[
        str, typer.Option(help="After downtime or a pause: `skip`, `fire_once` or `fire_all`.")
    ] = "skip",
    jitter: Annotated[float, typer.Option(min=0, help="Run each task up to this many s late.")] = 0,
    paused: Annotated[bool, typer.Option("--paused", help="Create it paused.")] = False,
    api_url: ApiUrl = None,
    api_key: ApiKey = None,
    data_dir: DataDir = None,
) -> None:
    """Create a schedule; print its id.

    Example: taskstream schedules create '0 9 * * 1-5' reports.daily --misfire fire_once
    """
    choice: Literal["skip", "fire_once", "fire_all"] | None = (
        misfire if misfire in ("skip", "fire_once", "fire_all") else None  # type: ignore[assignment]
    )
    if choice is None:
        raise typer.BadParameter("--misfire wants skip, fire_once or fire_all")
    template: dict[str, Any] = {
        "type": task_type,
        "payload": parse_payload(payload),
        "labels": parse_labels(label or []),
    }
    if queue is not None:
        template["queue"] = queue
    if priority is not None:
        template["priority"] = priority
    body = {
        "cron": cron,
        "timezone": timezone,
        "template": template,
        "misfire": choice,
        "jitter_seconds": jitter,
        "paused": paused,
    }
    with ApiClient(resolve_target(api_url, api_key, data_dir)) as api:
        _, answer = api.call("POST", "/v1/schedules", body)
    console.print(str((answer or {}).get("id", "")), highlight=False)


@app.command("list")
def list_(
    include_deleted: Annotated[bool, typer.Option("--deleted", help="Deleted ones too.")] = False,
    limit: Annotated[int, typer.Option(min=1, help="Page size.")] = 50,
    as_json: AsJson = False,
    api_url: ApiUrl = None,
    api_key: ApiKey = None,
    data_dir: DataDir = None,
) -> None:
    """List schedules, newest first.

    Example: taskstream schedules list --deleted
    """
    query = f"/v1/schedules?limit={limit}&include_deleted={str(include_deleted).lower()}"
    with ApiClient(resolve_target(api_url, api_key, data_dir)) as api:
        _, page = api.call("GET", query)
    if as_json:
        print_json(page)
        return
    rows = [{k: row.get(k) for k in _LIST_COLUMNS} for row in items_of(page)]
    print_rows("schedules", rows)


@app.command()
def get(
    schedule_id: ScheduleId,
    as_json: AsJson = False,
    api_url: ApiUrl = None,
    api_key: ApiKey = None,
    data_dir: DataDir = None,
) -> None:
    """Show a schedule and its recent fires (the tasks it submitted).

    Example: taskstream schedules get sch_3f2a9c0e1d7b4e6a8c5f0b1d2e3a4c5d
    """
    with ApiClient(resolve_target(api_url, api_key, data_dir)) as api:
        _, found = api.call("GET", f"/v1/schedules/{schedule_id}")
    if as_json or not isinstance(found, dict):
        print_json(found)
        return
    fires = found.pop("recent_fires", [])
    print_rows("schedule", [found])
    print_rows("recent fires", fires)


def _action(schedule_id: str, verb: str, target: tuple[str | None, str | None, Any]) -> None:
    path = f"/v1/schedules/{schedule_id}" + ("" if verb == "delete" else f"/{verb}")
    with ApiClient(resolve_target(*target)) as api:
        if verb == "delete":
            api.call("DELETE", path)
        else:
            api.call("POST", path, {})
    console.print(f"{verb} requested for {schedule_id}", highlight=False)


@app.command()
def pause(
    schedule_id: ScheduleId,
    api_url: ApiUrl = None,
    api_key: ApiKey = None,
    data_dir: DataDir = None,
) -> None:
    """Pause a schedule: no fires until it is resumed.

    Example: taskstream schedules pause sch_3f2a9c0e1d7b4e6a8c5f0b1d2e3a4c5d
    """
    _action(schedule_id, "pause", (api_url, api_key, data_dir))


@app.command()
def resume(
    schedule_id: ScheduleId,
    api_url: ApiUrl = None,
    api_key: ApiKey = None,
    data_dir: DataDir = None,
) -> None:
    """Resume a paused schedule; what the pause missed follows its misfire policy.

    Example: taskstream schedules resume sch_3f2a9c0e1d7b4e6a8c5f0b1d2e3a4c5d
    """
    _action(schedule_id, "resume", (api_url, api_key, data_dir))


@app.command()
def delete(
    schedule_id: ScheduleId,
    api_url: ApiUrl = None,
    api_key: ApiKey = None,
    data_dir: DataDir = None,
) -> None:
    """Delete a schedule for good (tasks it already submitted are untouched).

    Example: taskstream schedules delete sch_3f2a9c0e1d7b4e6a8c5f0b1d2e3a4c5d
    """
    _action(schedule_id, "delete", (api_url, api_key, data_dir))
