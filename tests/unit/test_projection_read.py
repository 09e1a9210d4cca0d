"""Pure parts of the projection's edges: cursors, record decoding, migration files."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from projections.migrate import migrations
from projections.postgres import encode_rows
from projections.read import decode_cursor, encode_cursor
from taskstream.codec import decode
from taskstream.domain.errors import DecodeError


@given(
    st.datetimes(timezones=st.just(UTC), min_value=datetime(1970, 1, 2)),
    st.text(min_size=1, max_size=80),
)
def test_cursor_round_trips(moment: datetime, task_id: str) -> None:
    assert decode_cursor(encode_cursor(moment, task_id)) == (moment, task_id)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "not base64 !!",
        _b64(b"not json"),
        _b64(b"{}"),
        _b64(orjson.dumps(["2025-01-01T00:00:00+00:00"])),
        _b64(orjson.dumps(["yesterday", "t1"])),
        _b64(orjson.dumps(["2025-01-01T00:00:00", "t1"])),  # no time zone
        _b64(orjson.dumps(["2025-01-01T00:00:00+00:00", 7])),
    ],
)
def test_a_foreign_cursor_is_a_value_error(cursor: str) -> None:
    with pytest.raises(ValueError, match="cursor"):
        decode_cursor(cursor)


@pytest.mark.parametrize(
    "raw",
    [
        None,
        b"",
        b"not json",
        b"[1, 2]",
        b'{"type": "task.submitted"}',
        # A schema version with no upcaster: the slow path's error, not the fast path's.
        orjson.dumps(
            {
                "event_id": "e1",
                "type": "task.ready",
                "schema_version": 0,
                "task_id": "t1",
                "version": 2,
                "occurred_at": "2025-01-01T00:00:00+00:00",
            }
        ),
    ],
)
def test_the_codec_refuses_what_is_no_envelope(raw: bytes | None) -> None:
    with pytest.raises(DecodeError):
        decode(raw)


def test_migrations_are_ordered_and_named() -> None:
    found = migrations()
    names = [m.name for m in found]
    assert names[0] == "0001_init"
    assert names == sorted(names)
    assert all(m.sql.strip() and len(m.checksum) == 64 for m in found)


def test_a_badly_named_migration_is_refused(tmp_path: Path) -> None:
    (tmp_path / "0001_init.sql").write_text("SELECT 1;")
    (tmp_path / "2_oops.sql").write_text("SELECT 1;")
    with pytest.raises(ValueError, match="2_oops"):
        migrations(tmp_path)


def test_rows_keep_escaped_backslashes_and_replace_only_nul() -> None:
    rows = [{"a": "x\x00y", "b": "\\u0000", "c": "\\\x00"}]
    plain = orjson.loads(encode_rows(rows, no_nul=False))
    assert plain == rows
    clean = orjson.loads(encode_rows(rows, no_nul=True))
    assert clean == [{"a": "x\ufffdy", "b": "\\u0000", "c": "\\\ufffd"}]


def test_rows_with_integers_beyond_64_bits_still_encode() -> None:
    moment = datetime(2025, 1, 1, tzinfo=UTC)
    (row,) = orjson.loads(encode_rows([{"n": 2**70, "at": moment}], no_nul=False))
    assert row["n"] == 2**70
    assert datetime.fromisoformat(row["at"]) == moment
