"""`taskstream dev`: the embedded stack in the foreground, and `dev status`."""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from taskstream.cli.client import default_data_dir, fail
from taskstream.cli.render import console, print_json

app = typer.Typer(
    no_args_is_help=False,
)


@app.callback(invoke_without_command=True)
def dev(
    ctx: typer.Context,
    data_dir: Annotated[
        Path | None,
        typer.Option(help="Where data, logs and stack.json live (default: .taskstream)."),
    ] = None,
    embedded_kafka: Annotated[
        bool | None,
        typer.Option(
            "--embedded-kafka/--no-embedded-kafka",
            help="Run Tansu, or use TASKSTREAM_KAFKA_BOOTSTRAP.",
            show_default=False,
        ),
    ] = None,
    embedded_postgres: Annotated[
        bool | None,
        typer.Option(
            "--embedded-postgres/--no-embedded-postgres",
            help="Run PostgreSQL, or use TASKSTREAM_POSTGRES_DSN.",
            show_default=False,
        ),
    ] = None,
    embedded_redis: Annotated[
        bool | None,
        typer.Option(
            "--embedded-redis/--no-embedded-redis",
            help="Run Valkey, or use TASKSTREAM_REDIS_URL.",
            show_default=False,
        ),
    ] = None,
    services: Annotated[
        str | None,
        typer.Option(help="Services to run: api,scheduler,worker,projector (all); '' or none."),
    ] = None,
    api_port: Annotated[
        int | None,
        typer.Option(
            min=0, help="API port (default: 8000 when free, else any free port; 0: any free port)."
        ),
    ] = None,
    worker_concurrency: Annotated[
        int | None, typer.Option(min=1, help="Attempts the worker runs at once (default: 32).")
    ] = None,
    worker_queues: Annotated[
        str | None, typer.Option(help="Queues the worker consumes (default: default).")
    ] = None,
    worker_tasks: Annotated[
        list[str] | None, typer.Option(help="Module with @task handlers for the worker (repeat).")
    ] = None,
) -> None:
    """Run the embedded stack in the foreground until Ctrl-C.

    Starts the Tansu broker, PostgreSQL and Valkey on free loopback ports, creates the
    topics and the database, then runs api, scheduler, worker and projector, restarting
    any that dies. Data and logs go under --data-dir; stack.json there tells clients
    (and `taskstream dev status`) where everything is.

    Example: taskstream dev --services api,scheduler,worker --worker-tasks myapp.tasks
    """
    if ctx.invoked_subcommand is not None:
        return
    from taskstream.stack.config import StackOptions, parse_services, split_csv

    overrides: dict[str, Any] = {
        "data_dir": data_dir,
        "embedded_kafka": embedded_kafka,
        "embedded_postgres": embedded_postgres,
        "embedded_redis": embedded_redis,
        "api_port": api_port,
        "worker_concurrency": worker_concurrency,
        "worker_queues": split_csv(worker_queues) if worker_queues else None,
        "worker_tasks": tuple(worker_tasks) if worker_tasks else None,
    }
    try:
        if services is not None:
            overrides["services"] = parse_services(services)
        options = StackOptions.from_settings(_settings(), **overrides)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    _run_stack(options)


def _settings() -> Any:
    from taskstream.settings import Settings

    settings = Settings()
    # In a terminal a person reads the supervisor's lines; JSON only when asked for.
    if "TASKSTREAM_LOG_JSON" not in os.environ:
        settings = settings.model_copy(update={"log_json": False})
    return settings


def _run_stack(options: Any) -> None:
    import logging

    from taskstream.cli.summary import print_summary
    from taskstream.logs import JsonFormatter, configure_logging
    from taskstream.stack.state import StackLocked
    from taskstream.stack.supervisor import StackError, Supervisor

    configure_logging("supervisor", options.settings)
    (options.data_dir / "logs").mkdir(parents=True, exist_ok=True)
    file_handler = logging.FileHandler(options.data_dir / "logs" / "supervisor.log")
    file_handler.setFormatter(JsonFormatter("supervisor"))
    logging.getLogger().addHandler(file_handler)
    started = time.monotonic()
    supervisor = Supervisor(
        options, on_ready=lambda state: print_summary(state, time.monotonic() - started)
    )
    try:
        asyncio.run(supervisor.run())
    except StackLocked as exc:
        fail(str(exc))
    except StackError as exc:
        fail(f"the stack did not start: {exc}")
    finally:
        file_handler.close()


@app.command()
def status(
    data_dir: Annotated[
        Path | None, typer.Option(help="The stack's data directory (default: .taskstream).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print stack.json only.")] = False,
) -> None:
    """Show the running stack: its endpoints, dev key and every child with its PID.

    Exits 1 when no stack runs on the data directory.

    Example: taskstream dev status --data-dir .taskstream
    """
    from taskstream.cli.summary import services_table
    from taskstream.stack.children import pid_alive

    where = data_dir or default_data_dir()
    try:
        state = json.loads((where / "stack.json").read_text())
    except FileNotFoundError:
        fail(f"no stack running in {where}; start one with `make dev`")
    except ValueError as exc:
        fail(f"{where / 'stack.json'} is unreadable: {exc}")
    supervisor = state.get("supervisor_pid")
    if not isinstance(supervisor, int) or not pid_alive(supervisor):
        fail(f"{where / 'stack.json'} is stale: its supervisor (pid {supervisor}) is not running")
    if as_json:
        print_json(state)
        return
    print_json(state)
    console.print(services_table(state))
