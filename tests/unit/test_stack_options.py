"""The embedded stack's options: extra PostgreSQL parameters reach the server's command line."""

from __future__ import annotations

from pathlib import Path

import pytest

from taskstream.settings import Settings
from taskstream.stack import postgres
from taskstream.stack.config import StackOptions, StackSettings, parse_pg_options


def test_pg_options_parse_trimmed_pairs() -> None:
    assert parse_pg_options(" shared_buffers = 1GB,, work_mem=64MB ") == (
        "shared_buffers=1GB",
        "work_mem=64MB",
    )
    assert parse_pg_options("") == ()


@pytest.mark.parametrize("spec", ["shared_buffers", "=1GB", "work_mem="])
def test_pg_options_refuse_a_pair_without_name_or_value(spec: str) -> None:
    with pytest.raises(ValueError, match=r"TASKSTREAM_EMBEDDED_POSTGRES_OPTIONS.*name=value"):
        parse_pg_options(spec)


def test_pg_options_come_after_the_stacks_own(tmp_path: Path) -> None:
    opts = StackOptions.from_settings(
        Settings(data_dir=str(tmp_path)),
        StackSettings(embedded_postgres_options="full_page_writes=on"),
    )
    layout = postgres.PgLayout(pgdata=tmp_path, bin_dir=tmp_path, socket_dir=tmp_path, os_user=None)
    argv = postgres.spec(layout, 5432, fsync=False, timeout=5, options=opts.postgres_options).argv
    assert argv[-2:] == ["-c", "full_page_writes=on"]
    assert argv.index("full_page_writes=off") < argv.index("full_page_writes=on")
