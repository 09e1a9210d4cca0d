"""`taskstream keys create | list | revoke`: API keys, straight in Postgres (operator tool).

The database is `--dsn`, else `$TASKSTREAM_POSTGRES_DSN`, else the local stack's
stack.json (`--data-dir`). Keys are hashed there; a new key is printed once, on the last
line of stdout (everything else goes to stderr), so `KEY=$(taskstream keys create ... |
tail -1)` works.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from taskstream.cli.client import default_data_dir, err_console, fail
from taskstream.cli.render import console, print_json, print_rows
from taskstream.cli.tasks import AsJson, DataDir

if TYPE_CHECKING:
    from pathlib import Path

    from api.keys_pg import KeyRepo

app = typer.Typer(
    help="API keys: create (printed once), list (never the secret), revoke.\n\n"
    "Example: taskstream keys create --tenant acme --scopes tasks:read,tasks:write",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)

_T = TypeVar("_T")
Dsn = Annotated[
    str | None,
    typer.Option(
        "--dsn",
        help="Postgres DSN (default: $TASKSTREAM_POSTGRES_DSN, else stack.json's postgres_dsn).",
    ),
]


def resolve_dsn(dsn: str | None, data_dir: Path | None) -> str:
    """Flag, then environment, then the local stack.json."""
    found = dsn or os.environ.get("TASKSTREAM_POSTGRES_DSN")
    if found:
        return found
    stack_json = (data_dir or default_data_dir()) / "stack.json"
    try:
        value = json.loads(stack_json.read_text()).get("postgres_dsn")
    except (OSError, ValueError):
        value = None
    if not value:
        fail(
            f"no database: pass --dsn, set TASKSTREAM_POSTGRES_DSN, or start `taskstream dev` "
            f"(no {stack_json})"
        )
    return str(value)


def _with_repo(dsn: str, work: Callable[[KeyRepo], Awaitable[_T]]) -> _T:
    async def run() -> _T:
        import asyncpg

        from api.keys_pg import KeyRepo
        from projections.migrate import migrate

        try:
            pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2, timeout=5)
        except (OSError, asyncpg.PostgresError) as exc:
            fail(f"cannot reach Postgres: {exc}")
        try:
            await migrate(pool)
            return await work(KeyRepo(pool))
        finally:
            await pool.close()

    return asyncio.run(run())


@app.command("create")
def create(
    tenant: Annotated[str, typer.Option("--tenant", help="The key's tenant (a-z, 0-9, - and _).")],
    scopes: Annotated[
        str, typer.Option("--scopes", help="Comma-separated: tasks:read, tasks:write, admin.")
    ],
    name: Annotated[str, typer.Option("--name", help="Who or what uses the key.")] = "",
    description: Annotated[str, typer.Option("--description", help="Free text.")] = "",
    dsn: Dsn = None,
    data_dir: DataDir = None,
) -> None:
    """Create a key and print it once, on the last line of stdout (details go to stderr).

    Example: taskstream keys create --tenant acme --scopes tasks:read,tasks:write --name billing
    """
    from api.auth import AuthInputError, check_tenant, parse_scopes

    try:
        check_tenant(tenant)
        granted = sorted(parse_scopes(scopes))
    except AuthInputError as exc:
        fail(str(exc), code=2)
    target = resolve_dsn(dsn, data_dir)
    row, key = _with_repo(
        target, lambda repo: repo.create(tenant, granted, name=name, description=description)
    )
    err_console.print(
        f"created key {row['id']} for tenant {row['tenant']} with scopes "
        f"{','.join(row['scopes'])}; it is shown only now:",
        highlight=False,
    )
    typer.echo(key)


def _row(key: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": key["id"],
        "tenant": key["tenant"],
        "scopes": ",".join(key["scopes"]),
        "name": key["name"],
        "created": key["created_at"],
        "revoked": key["revoked_at"],
        "last used": key["last_used_at"],
    }


@app.command("list")
def list_keys(
    tenant: Annotated[str | None, typer.Option("--tenant", help="Only this tenant.")] = None,
    as_json: AsJson = False,
    dsn: Dsn = None,
    data_dir: DataDir = None,
) -> None:
    """List keys newest first: id, tenant, scopes, created, revoked, last used (no secrets).

    Example: taskstream keys list --tenant acme
    """
    target = resolve_dsn(dsn, data_dir)

    async def every(repo: KeyRepo) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            page, cursor = await repo.list(tenant, limit=500, cursor=cursor)
            found += page
            if cursor is None:
                return found

    keys = _with_repo(target, every)
    if as_json:
        print_json(keys)
    elif not keys:
        console.print("no API keys" + (f" in tenant {tenant}" if tenant else ""), highlight=False)
    else:
        print_rows("API keys", [_row(k) for k in keys])


@app.command("revoke")
def revoke(
    key_id: Annotated[str, typer.Argument(help="The key's public id (from `keys list`).")],
    dsn: Dsn = None,
    data_dir: DataDir = None,
) -> None:
    """Revoke a key; API processes refuse it within `api_key_cache_seconds` (default 5 s).

    Example: taskstream keys revoke k3v9q2m8x1c4b7n0
    """
    from api.apikeys import parse_key

    parsed = parse_key(key_id)  # a whole key pasted by mistake: take its id, never echo it
    wanted = parsed.key_id if parsed else key_id
    row = _with_repo(resolve_dsn(dsn, data_dir), lambda repo: repo.revoke(wanted))
    if row is None:
        fail(f"no API key {wanted}")
    console.print(f"revoked key {row['id']} (tenant {row['tenant']}) at {row['revoked_at']}")
