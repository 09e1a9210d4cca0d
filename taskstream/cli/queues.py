"""`taskstream queues pause | resume | limit`, over the REST API."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from taskstream.cli.client import ApiClient, resolve_target
from taskstream.cli.render import console
from taskstream.cli.tasks import ApiKey, ApiUrl, DataDir

app = typer.Typer(
    help="Queues of your tenant: pause and resume dispatch, cap attempts in flight.\n\n"
    "Settings apply to every scheduler partition within a tick and survive restarts.\n\n"
    "Example: taskstream queues limit emails 4",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)

Queue = Annotated[
    str, typer.Argument(metavar="QUEUE", help="Queue name (letters, digits, `_`, `.`, `-`).")
]
Reason = Annotated[str, typer.Option(help="Why; recorded in the queue's event.")]


def _send(method: str, queue: str, verb: str, body: dict[str, Any] | None, target: Any) -> None:
    with ApiClient(resolve_target(*target)) as api:
        api.call(method, f"/v1/queues/{queue}/{verb}", body)


@app.command()
def pause(
    queue: Queue,
    reason: Reason = "",
    api_url: ApiUrl = None,
    api_key: ApiKey = None,
    data_dir: DataDir = None,
) -> None:
    """Pause a queue: nothing new is dispatched; running attempts finish.

    Delays and retry backoffs keep counting while paused: their tasks become ready and
    wait. Example: taskstream queues pause emails --reason "provider outage"
    """
    _send("POST", queue, "pause", {"reason": reason}, (api_url, api_key, data_dir))
    console.print(f"pause requested for queue {queue}", highlight=False)


@app.command()
def resume(
    queue: Queue,
    reason: Reason = "",
    api_url: ApiUrl = None,
    api_key: ApiKey = None,
    data_dir: DataDir = None,
) -> None:
    """Resume a paused queue: its waiting tasks are dispatched at once, by priority.

    Example: taskstream queues resume emails
    """
    _send("POST", queue, "resume", {"reason": reason}, (api_url, api_key, data_dir))
    console.print(f"resume requested for queue {queue}", highlight=False)


@app.command()
def limit(
    queue: Queue,
    slots: Annotated[
        int | None,
        typer.Argument(metavar="[N]", min=1, help="Attempts in flight at most, over all workers."),
    ] = None,
    clear: Annotated[bool, typer.Option("--clear", help="Remove the limit.")] = False,
    reason: Reason = "",
    api_url: ApiUrl = None,
    api_key: ApiKey = None,
    data_dir: DataDir = None,
) -> None:
    """Set a queue's concurrency limit N (or remove it with --clear).

    The queue's workers may offer more slots; at most N attempts run at once anyway.
    Example: taskstream queues limit emails 4 ; taskstream queues limit emails --clear
    """
    if (slots is None) == (not clear):
        raise typer.BadParameter("give a limit N, or --clear (not both)")
    target = (api_url, api_key, data_dir)
    if clear:
        _send("DELETE", queue, "limit", None, target)
        console.print(f"limit cleared for queue {queue}", highlight=False)
        return
    _send("PUT", queue, "limit", {"limit": slots, "reason": reason}, target)
    console.print(f"limit {slots} requested for queue {queue}", highlight=False)
