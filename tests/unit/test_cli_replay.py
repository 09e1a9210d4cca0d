"""The operator commands (replay, log): their log records, and what --resume accepts."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from projections.replay.more_targets import rebuild_search_target
from taskstream.cli import app
from taskstream.cli.replay import stack_settings
from taskstream.settings import Settings


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


def test_resume_is_refused_for_a_target_without_a_shadow_schema(
    root_kept: None, tmp_path: Path
) -> None:
    result = CliRunner().invoke(
        app, ["replay", "rebuild", "redis", "--resume", "replay_x", "--data-dir", str(tmp_path)]
    )
    assert result.exit_code == 1
    assert "the redis target has none: run it again without --resume" in result.output


async def test_resume_of_search_on_elasticsearch_is_refused() -> None:
    settings = Settings(elasticsearch_url="http://127.0.0.1:9")
    with pytest.raises(ValueError, match="fresh Elasticsearch index"):
        await rebuild_search_target(settings, resume="replay_x")
