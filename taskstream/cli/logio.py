"""`taskstream log export | import`: topics to JSON Lines and back, offsets preserved."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from taskstream.cli.client import err_console, fail
from taskstream.cli.replay import DataDir, Quiet, stack_settings

app = typer.Typer(
    help="Export the log to JSON Lines, or import such a file into an empty broker.\n\n"
    "Example: taskstream log export -o backup.jsonl && taskstream log import backup.jsonl",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)

DEFAULT_TOPICS = "events,logs"


def _progress(bar: Any) -> Any:
    return lambda name, done, total: bar.update(name, done, total, time.monotonic())


@app.command("export")
def export(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write (default: stdout).")
    ] = None,
    topics: Annotated[
        str,
        typer.Option(
            help="Logical topics, comma-separated: events, logs, commands, workers, control, "
            "deadletter, or dispatch.<queue>."
        ),
    ] = DEFAULT_TOPICS,
    quiet: Quiet = False,
    data_dir: DataDir = None,
) -> None:
    """Write topics to JSON Lines: one record per line with its topic, partition, offset,
    timestamp, key, value (JSON when the bytes are plain JSON, else base64) and headers.

    Each partition is read from offset 0 up to its high watermark when the export began.
    The events and logs topics are the source of truth (commands are consumed into
    events; schedules live in the events topic), hence the default.

    Example: taskstream log export --topics events,logs,commands -o backup.jsonl
    """
    from projections.replay.logio import export_topics
    from projections.replay.progress import Bar

    settings = stack_settings(data_dir)
    names = [settings.topic(t.strip()) for t in topics.split(",") if t.strip()]
    if not names:
        raise typer.BadParameter("--topics names no topic")
    out = output.open("wb") if output else sys.stdout.buffer
    try:
        with Bar(quiet=quiet or output is None) as bar:
            report = asyncio.run(export_topics(settings, names, out, _progress(bar)))
    finally:
        if output:
            out.close()
    for topic, n in report.records.items():
        err_console.print(f"{topic}: {n:,} records", highlight=False)


@app.command("import")
def import_(
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="A JSON Lines export.")],
    force: Annotated[
        bool,
        typer.Option(help="Append even when a target topic already holds records (offsets shift)."),
    ] = False,
    quiet: Quiet = False,
    data_dir: DataDir = None,
) -> None:
    """Load an export into a broker: every record to its own topic and partition, in order.

    Refuses when a target topic already holds records, unless --force: into empty topics
    every record gets its original offset (checked record by record; exit 1 otherwise).
    Missing topics are created with the partition count the file needs (at least
    TASKSTREAM_PARTITIONS).

    Example: taskstream log import backup.jsonl
    """
    from projections.replay.config import ReplaySettings
    from projections.replay.logio import NotEmpty, import_file
    from projections.replay.progress import Bar

    settings = stack_settings(data_dir)
    try:
        with Bar(quiet=quiet) as bar:
            report = asyncio.run(
                import_file(
                    settings,
                    path,
                    force=force,
                    chunk=ReplaySettings().replay_import_chunk,
                    progress=_progress(bar),
                )
            )
    except (NotEmpty, ValueError) as exc:
        fail(str(exc))
    for topic, n in report.records.items():
        err_console.print(f"{topic}: {n:,} records", highlight=False)
    if report.moved:
        detail = "; ".join(report.first_moved)
        fail(f"{report.moved} records did not get their exported offset ({detail})")
