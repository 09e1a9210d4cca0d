"""Golden samples: every event and command type, every schema version, read as today.

`tests/golden/events/<type>.v<N>.json` and `tests/golden/commands/<type>.v<N>.json` hold
one record each, as it was written to the log at schema version N. They are never
regenerated: a schema change adds the new version's sample and an upcaster, and the old
sample must still read.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from taskstream.codec import decode, envelope_from
from taskstream.domain import commands as c
from taskstream.domain import queue_model as q
from taskstream.domain import schedule_model as s
from taskstream.domain.event_fields import ALL_EVENTS, EVENT_FIELDS, missing_fields
from taskstream.domain.events import CURRENT_SCHEMA_VERSION
from taskstream.domain.machine import evolve

GOLDEN = Path(__file__).resolve().parents[1] / "golden"

COMMAND_MODELS: dict[str, type[BaseModel]] = {
    **{t: m for t, m in c.PAYLOADS.items() if t in c.PUBLIC_COMMANDS},
    s.CREATE_SCHEDULE: s.CreateSchedule,
    s.PAUSE_SCHEDULE: s.ScheduleAction,
    s.RESUME_SCHEDULE: s.ScheduleAction,
    s.DELETE_SCHEDULE: s.ScheduleAction,
    **q.QUEUE_PAYLOADS,
}


def _samples(kind: str) -> list[Path]:
    return sorted((GOLDEN / kind).glob("*.v*.json"))


def _read(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def _name(path: Path) -> tuple[str, int]:
    type_, version = path.name.removesuffix(".json").rsplit(".v", 1)
    return type_, int(version)


@pytest.mark.parametrize("kind", ["events", "commands"])
def test_every_type_has_a_golden_sample_of_every_version(kind: str) -> None:
    types = ALL_EVENTS if kind == "events" else tuple(COMMAND_MODELS)
    have = {_name(p) for p in _samples(kind)}
    missing = [
        f"{kind}/{t}.v{v}.json"
        for t in types
        for v in range(1, CURRENT_SCHEMA_VERSION + 1)
        if (t, v) not in have
    ]
    assert not missing, f"add golden samples: {missing}"
    unknown = sorted({t for t, _ in have} - set(types))
    assert not unknown, f"golden samples of unknown types: {unknown}"


def test_every_event_type_has_its_current_fields_listed() -> None:
    assert set(EVENT_FIELDS) == set(ALL_EVENTS)


@pytest.mark.parametrize("path", _samples("events"), ids=lambda p: p.name)
def test_every_golden_event_reads_at_the_current_schema(path: Path) -> None:
    raw = _read(path)
    type_, version = _name(path)
    assert (raw["type"], raw["schema_version"]) == (type_, version)
    event = decode(json.dumps(raw).encode())  # the codec upcasts, as every reader does
    assert event.schema_version == CURRENT_SCHEMA_VERSION
    assert missing_fields(event.type, event.payload) == []
    assert event.version >= 1 or event.type == "command.rejected"


@pytest.mark.parametrize("path", _samples("commands"), ids=lambda p: p.name)
def test_every_golden_command_reads_and_validates_at_the_current_schema(path: Path) -> None:
    raw = _read(path)
    type_, version = _name(path)
    assert (raw["type"], raw["schema_version"]) == (type_, version)
    cmd = envelope_from(dict(raw))
    assert cmd.schema_version == CURRENT_SCHEMA_VERSION and cmd.version == 0
    COMMAND_MODELS[cmd.type].model_validate(cmd.payload)


def test_a_submitted_event_written_before_defaults_were_recorded_still_folds() -> None:
    raw = _read(GOLDEN / "events" / "task.submitted.v1.json")
    del raw["payload"]["defaults"]
    state = evolve(None, decode(json.dumps(raw).encode()))
    assert state is not None and state.queue == raw["payload"]["queue"]
