"""The `taskstream` command line: the dev stack, task commands and the four services."""

from __future__ import annotations

import typer

from taskstream.cli import (
    audit,
    dev,
    dlq,
    history,
    keys,
    logio,
    queues,
    replay,
    schedules,
    services,
    tasks,
)

app = typer.Typer(
    name="taskstream",
    help="Taskstream: an event-sourced distributed task scheduler on Kafka.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    rich_markup_mode="markdown",
)
app.add_typer(dev.app, name="dev", rich_help_panel="Local stack")
for _command in (tasks.submit, tasks.get, tasks.cancel):
    app.command(rich_help_panel="Tasks")(_command)
app.command(rich_help_panel="History")(history.inspect)
app.command(rich_help_panel="History")(history.logs)
app.add_typer(dlq.app, name="dlq", rich_help_panel="Tasks")
app.command(rich_help_panel="Operations")(audit.audit)
app.add_typer(schedules.app, name="schedules", rich_help_panel="Tasks")
app.add_typer(queues.app, name="queues", rich_help_panel="Tasks")
app.add_typer(replay.app, name="replay", rich_help_panel="Operations")
app.add_typer(logio.app, name="log", rich_help_panel="Operations")
app.add_typer(keys.app, name="keys", rich_help_panel="Operations")
services.register(app)


def main() -> None:
    """Entry point of the `taskstream` console script and of `python -m taskstream`."""
    app(prog_name="taskstream")
