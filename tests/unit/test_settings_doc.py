"""docs/settings.md stays true to the settings classes."""

from __future__ import annotations

from pathlib import Path

from taskstream.settings_doc import render

DOC = Path(__file__).resolve().parents[2] / "docs" / "settings.md"


def test_settings_reference_is_current() -> None:
    assert DOC.read_text().strip() == render().strip(), (
        "docs/settings.md is stale: run `python -m taskstream.settings_doc > docs/settings.md`"
    )
