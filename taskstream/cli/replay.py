"""`taskstream replay rebuild | verify`: read models rebuilt from the log and checked against it."""

from __future__ import annotations

import asyncio
import json
import os
import time
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from taskstream.cli.client import default_data_dir, fail
from taskstream.cli.render import console

if TYPE_CHECKING:
    from taskstream.settings import Settings

app = typer.Typer(
    help="Rebuild read models from the log, and verify them against it.\n\n"
    "Both replay the events and logs topics from offset 0 into a fresh shadow schema while "
    "the live model keeps serving. Example: taskstream replay verify",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)


class TargetName(StrEnum):
    """Read models `rebuild` knows."""

    postgres = "postgres"
    search = "search"
    redis = "redis"


DataDir = Annotated[
    Path | None,
    typer.Option(
        help="Use the endpoints of the stack running there (stack.json) unless "
        "TASKSTREAM_KAFKA_BOOTSTRAP / TASKSTREAM_POSTGRES_DSN are set (default: .taskstream)."
    ),
]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")]


def stack_settings(data_dir: Path | None) -> Settings:
    """Settings, with the broker and Postgres of a running local stack when not set.

    Also sends log records to stderr (above the progress bar): warnings and errors
    only, as readable lines, unless TASKSTREAM_LOG_LEVEL or TASKSTREAM_LOG_JSON says
    otherwise.
    """
    from taskstream.logs import configure_logging
    from taskstream.settings import Settings

    settings = Settings()
    try:
        stack = json.loads(((data_dir or default_data_dir()) / "stack.json").read_text())
    except (OSError, ValueError):
        stack = {}
    update: dict[str, Any] = {
        field: stack[key]
        for field, key, env in (
            ("kafka_bootstrap", "kafka_bootstrap", "TASKSTREAM_KAFKA_BOOTSTRAP"),
            ("postgres_dsn", "postgres_dsn", "TASKSTREAM_POSTGRES_DSN"),
        )
        if env not in os.environ and key in stack
    }
    settings = settings.model_copy(update=update)
    shown: dict[str, Any] = {
        field: value
        for field, value, env in (
            ("log_json", False, "TASKSTREAM_LOG_JSON"),
            ("log_level", "WARNING", "TASKSTREAM_LOG_LEVEL"),
        )
        if env not in os.environ
    }
    configure_logging("cli", settings.model_copy(update=shown))
    return settings


@app.command()
def rebuild(
    target: Annotated[TargetName, typer.Argument(help="The read model to rebuild.")],
    keep_old: Annotated[
        bool,
        typer.Option(help="Keep the replaced tables, in schema `public_old_YYYYMMDDHHMMSS`."),
    ] = False,
    resume: Annotated[
        str | None,
        typer.Option(
            metavar="SCHEMA",
            help="postgres (and search on Postgres full text): continue the rebuild that "
            "stopped in this shadow schema (its name is in the message it stopped with) "
            "from its checkpoints, instead of starting again from offset 0.",
        ),
    ] = None,
    quiet: Quiet = False,
    data_dir: DataDir = None,
) -> None:
    """Rebuild a read model from offset 0, then switch over atomically.

    postgres: the events and logs topics are replayed into a new schema (COPY, large
    batches, the projector's own fold) while the live model serves reads. Once the
    rebuild is within TASKSTREAM_REPLAY_SWITCH_GAP records of the live projector, one
    transaction takes the projectors' batch lock, applies the last records, and moves
    the rebuilt tables live; the projector continues from the same checkpoints. The old
    tables are dropped unless --keep-old. A rebuild that stops after applying records
    (a crash, Ctrl-C, a lost connection) keeps its shadow schema and names it: --resume
    continues from there.

    search: with TASKSTREAM_ELASTICSEARCH_URL, a fresh index filled from offset 0, then
    the tasks alias moves to it (the old index is deleted unless --keep-old); on Postgres
    full text, the same as postgres (the search rows are part of that model), --resume
    included.

    redis: the queue counters recounted from Postgres and swapped in with one MULTI/EXEC.

    Example: taskstream replay rebuild postgres --keep-old
    """
    from projections.replay.progress import Bar
    from projections.replay.targets import TargetUnavailable, resolve
    from taskstream.gc_tuning import tune_gc

    try:
        fn = resolve(target.value)
    except TargetUnavailable as exc:
        fail(str(exc))
    from projections.replay.more_targets import searches_postgres
    from projections.replay.rebuild import stamp
    from projections.replay.resume import NoSuchShadow, resume_command, shadow_progress

    settings = stack_settings(data_dir)
    options: dict[str, Any] = {"keep_old": keep_old}
    shadow = None
    # `search` on Postgres full text is the Postgres rebuild, shadow schema and all.
    if target.value == "postgres" or (target.value == "search" and searches_postgres(settings)):
        shadow = resume or f"replay_{stamp()}"
        options["resume" if resume else "schema"] = shadow
    elif resume is not None:
        fail(
            f"--resume continues a rebuild into a Postgres shadow schema; the {target.value} "
            "target has none: run it again without --resume"
        )
    tune_gc(settings, rebuild=True)
    try:
        with Bar(quiet=quiet) as bar:
            report: Any = asyncio.run(fn(settings, progress=_progress(bar), **options))
    except NoSuchShadow as exc:
        fail(str(exc))
    except (Exception, KeyboardInterrupt) as exc:
        if shadow is not None:
            applied = _quietly(lambda: asyncio.run(shadow_progress(settings.postgres_dsn, shadow)))
            if applied:
                console.print(
                    f"[yellow]The rebuild stopped ({type(exc).__name__}); its shadow schema "
                    f"{shadow} keeps the {applied:,} records it applied. Continue it with: "
                    f"{resume_command(shadow)}[/]",
                    highlight=False,
                )
        raise
    _print_rebuild(report)


def _quietly(probe: Any) -> Any:
    """`probe()`, or None if it fails (a hint that cannot be checked is left out)."""
    try:
        return probe()
    except Exception:  # Postgres may be what failed
        return None


def _progress(bar: Any) -> Any:
    return lambda name, done, total: bar.update(name, done, total, time.monotonic())


def _print_rebuild(report: Any) -> None:
    if not hasattr(report, "swapped"):
        console.print(report)
        return
    resumed = getattr(report, "resumed_from", 0)
    this_run = report.events + report.lines - resumed
    rate = this_run / report.seconds if report.seconds else 0.0
    earlier = f", {resumed:,} records of them before the resume" if resumed else ""
    console.print(
        f"rebuilt {report.events:,} events and {report.lines:,} log lines{earlier}; this run "
        f"took {report.seconds:.1f} s ({rate:,.0f} records/s); switched over: "
        f"{', '.join(report.swapped)}",
        highlight=False,
    )
    if report.kept:
        console.print(f"left in place (not rebuilt here): {', '.join(report.kept)}")
    if report.undecodable or report.refused or report.fold_errors:
        console.print(
            f"[yellow]{report.undecodable} undecodable and {report.refused} refused records "
            f"skipped (the projector dead-lettered them), {report.fold_errors} events that "
            "do not fold (as in the live model)[/]"
        )
    if report.old_schema:
        console.print(f"old tables kept in schema {report.old_schema}")


@app.command()
def verify(
    keep: Annotated[bool, typer.Option(help="Keep the shadow schema for inspection.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    quiet: Quiet = False,
    data_dir: DataDir = None,
) -> None:
    """Rebuild into a shadow schema and report every difference from the live Postgres model.

    Compared at a common cut while traffic flows: a repeatable-read snapshot of the live
    model, with the shadow brought to exactly that snapshot's checkpoints. Compared row by
    row over every table the rebuild fills, except columns that legitimately differ
    (listed in the report). Exits 0 only when there is no difference.

    Example: taskstream replay verify --json > verify.json
    """
    from projections.replay.diff import IGNORED
    from projections.replay.progress import Bar
    from projections.replay.verify import verify as run_verify
    from taskstream.gc_tuning import tune_gc

    settings = stack_settings(data_dir)
    tune_gc(settings, rebuild=True)
    with Bar(quiet=quiet or as_json) as bar:
        report = asyncio.run(run_verify(settings, progress=_progress(bar), keep=keep))
    if as_json:
        typer.echo(json.dumps(_as_dict(report), indent=2, default=str))
    else:
        _print_verify(report, IGNORED)
    raise typer.Exit(1 if report.differences else 0)


def _as_dict(report: Any) -> dict[str, Any]:
    return {
        "differences": report.differences,
        "checkpoints": report.checkpoints,
        "tables": [
            {
                "table": t.table,
                "live_rows": t.live_rows,
                "rebuilt_rows": t.rebuilt_rows,
                "differences": t.differences,
                "ignored_columns": list(t.ignored),
                "skipped": t.skipped,
                "shown": [{"kind": d.kind, "key": d.key, "columns": d.columns} for d in t.shown],
            }
            for t in report.tables
        ],
    }


def _print_verify(report: Any, ignored: Any) -> None:
    cut = ", ".join(
        f"{name} {sum(o + 1 for o in parts.values()):,} records"
        for name, parts in report.checkpoints.items()
    )
    console.print(f"compared at the live checkpoints ({cut})", highlight=False)
    for t in report.tables:
        if t.skipped:
            console.print(f"  [dim]{t.table}: skipped, {t.skipped}[/]", highlight=False)
            continue
        mark = "[green]same[/]" if not t.differences else f"[red]{t.differences} differ[/]"
        note = f" (ignoring {', '.join(t.ignored)})" if t.ignored else ""
        console.print(f"  {t.table}: {t.live_rows:,} rows, {mark}{note}", highlight=False)
        for d in t.shown:
            console.print(f"    {d.describe()}", highlight=False, markup=False)
    for table, cols in ignored.items():
        for col, why in cols.items():
            console.print(f"  [dim]ignored {table}.{col}: {why}[/]", highlight=False)
    total = report.differences
    console.print("[green]no differences[/]" if not total else f"[red]{total} differences[/]")
