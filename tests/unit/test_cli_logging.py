"""Log records of the operator commands: readable, warnings only by default, above the bar."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from taskstream.cli.replay import stack_settings


@pytest.fixture
def root_kept() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:], root.level = handlers, level


def test_warnings_only_as_readable_lines_on_the_stderr_of_the_moment(
    root_kept: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("TASKSTREAM_LOG_LEVEL", "TASKSTREAM_LOG_JSON"):
        monkeypatch.delenv(name, raising=False)
    stack_settings(tmp_path)
    # A live progress bar swaps sys.stderr after logging is set up: records follow it.
    swapped = io.StringIO()
    monkeypatch.setattr("sys.stderr", swapped)
    log = logging.getLogger("projections.replay.test")
    log.info("not shown")
    log.warning("shown", extra={"schema": "replay_x"})
    lines = swapped.getvalue().splitlines()
    assert len(lines) == 1
    assert lines[0].endswith("WARNING cli projections.replay.test: shown schema='replay_x'")


def test_the_level_and_json_settings_still_apply(
    root_kept: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TASKSTREAM_LOG_LEVEL", "INFO")
    monkeypatch.setenv("TASKSTREAM_LOG_JSON", "true")
    stack_settings(tmp_path)
    swapped = io.StringIO()
    monkeypatch.setattr("sys.stderr", swapped)
    logging.getLogger("projections.replay.test").info("now shown")
    assert '"now shown"' in swapped.getvalue()
