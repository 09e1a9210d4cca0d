"""`taskstream keys create | list | revoke` against the stack's Postgres and live API."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from typing import Any

import pytest

from tests.integration.auth_keys import client_for
from tests.integration.helpers import eventually

pytestmark = pytest.mark.integration


def keys_cli(stack: dict[str, Any], *args: str) -> subprocess.CompletedProcess[str]:
    """Run `taskstream keys ...` on the stack's database (found through its stack.json)."""
    cmd = [sys.executable, "-m", "taskstream", "keys", *args, "--data-dir", stack["data_dir"]]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


async def test_create_list_revoke(stack: dict[str, Any]) -> None:
    tenant = f"cli-{uuid.uuid4().hex[:8]}"
    made = await asyncio.to_thread(
        keys_cli, stack, "create", "--tenant", tenant, "--scopes", "tasks:read", "--name", "ci"
    )
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip().splitlines()[-1]
    key_id = key.split("_")[1]
    assert key.startswith("tsk_") and key_id in made.stderr and key not in made.stderr
    async with client_for(stack["api_url"], key) as client:
        assert (await client.get("/v1/tasks")).status_code == 200
        listed = await asyncio.to_thread(keys_cli, stack, "list", "--tenant", tenant, "--json")
        assert listed.returncode == 0, listed.stderr
        assert key_id in listed.stdout and key.split("_", 2)[2] not in listed.stdout
        revoked = await asyncio.to_thread(keys_cli, stack, "revoke", key_id)
        assert revoked.returncode == 0 and "revoked" in revoked.stdout

        async def refused() -> bool:
            return (await client.get("/v1/tasks")).status_code == 401

        await eventually(refused, timeout=15, every=0.2)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tenant", "Bad Tenant", "--scopes", "tasks:read"], "is not valid"),
        (["--tenant", "ok", "--scopes", "tasks:read,tasks:delete"], "unknown scopes"),
    ],
)
async def test_bad_input_is_refused_with_a_clear_error(
    stack: dict[str, Any], args: list[str], message: str
) -> None:
    out = await asyncio.to_thread(keys_cli, stack, "create", *args)
    assert out.returncode == 2 and out.stdout == "" and message in out.stderr
