"""Timestamps with any offset are stored in UTC (Postgres refuses offsets beyond ±15:59)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from taskstream.domain.commands import StartAttempt, SubmitTask


def test_a_far_offset_is_converted_to_utc() -> None:
    task = SubmitTask.model_validate({"type": "x", "run_at": "2641-06-01T00:00:00+20:00"})
    assert task.run_at == datetime(2641, 5, 31, 4, 0, tzinfo=UTC)
    assert task.run_at is not None and task.run_at.utcoffset() is not None
    assert task.run_at.tzinfo is UTC


def test_a_start_time_is_converted_to_utc() -> None:
    start = StartAttempt.model_validate(
        {"attempt": 1, "dispatch_id": "d", "worker": "w", "started_at": "2026-01-01T12:00:00-09:30"}
    )
    assert start.started_at == datetime(2026, 1, 1, 21, 30, tzinfo=UTC)


def test_a_moment_beyond_the_calendar_in_utc_is_refused_naming_the_field() -> None:
    with pytest.raises(ValidationError) as caught:
        SubmitTask.model_validate({"type": "x", "run_at": "9999-12-31T23:00:00-05:00"})
    assert caught.value.errors()[0]["loc"] == ("run_at",)
