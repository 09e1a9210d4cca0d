"""Upcasters, property-tested: any chain of steps brings any older record to the current
schema, once, in order; current records pass untouched; a missing step is an error."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from taskstream.codec import decode, encode
from taskstream.domain import upcast as u
from taskstream.domain.envelope import Envelope
from taskstream.domain.events import CURRENT_SCHEMA_VERSION

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
PAYLOADS = st.dictionaries(st.text(min_size=1, max_size=10), JSON, max_size=6)


def _record(type_: str, version: int, payload: dict[str, Any]) -> dict[str, Any]:
    return {
        "event_id": "e1",
        "type": type_,
        "schema_version": version,
        "task_id": "t1",
        "version": 3,
        "occurred_at": "2026-01-01T00:00:00+00:00",
        "tenant": "acme",
        "payload": payload,
    }


def _step(n: int) -> u.Upcaster:
    """A step from version n to n + 1 that leaves a trace of itself."""

    def step(record: dict[str, Any]) -> dict[str, Any]:
        out = copy.deepcopy(record)
        out["payload"]["steps"] = [*out["payload"].get("steps", []), n]
        return out

    return step


@contextmanager
def _chain(type_: str, current: int, gap: int | None = None) -> Iterator[None]:
    steps = {(type_, n): _step(n) for n in range(1, current) if n != gap}
    with (
        mock.patch.object(u, "CURRENT_SCHEMA_VERSION", current),
        mock.patch.dict(u.UPCASTERS, steps, clear=True),
    ):
        yield


@given(
    st.integers(2, 8),
    st.data(),
    PAYLOADS.map(lambda p: {k: v for k, v in p.items() if k != "steps"}),
)
def test_any_older_record_is_brought_to_the_current_version_one_step_at_a_time(
    current: int, data: st.DataObject, payload: dict[str, Any]
) -> None:
    start = data.draw(st.integers(1, current))
    with _chain("task.submitted", current):
        record = _record("task.submitted", start, payload)
        before = copy.deepcopy(record)
        out = u.upcast(record)
        assert out["schema_version"] == current
        assert out["payload"].get("steps", []) == list(range(start, current))
        # Identity, position and content beyond what the steps add are untouched.
        assert {k: v for k, v in out.items() if k not in ("payload", "schema_version")} == {
            k: v for k, v in before.items() if k not in ("payload", "schema_version")
        }
        assert {k: v for k, v in out["payload"].items() if k != "steps"} == payload
        assert u.upcast(copy.deepcopy(out)) == out  # idempotent: current passes untouched


@given(st.integers(3, 8), st.data())
def test_a_missing_step_is_an_error_naming_the_type_and_version(
    current: int, data: st.DataObject
) -> None:
    gap = data.draw(st.integers(1, current - 1))
    with _chain("task.ready", current, gap=gap):
        assert u.upcast(_record("task.ready", gap + 1, {}))["schema_version"] == current
        with pytest.raises(ValueError, match=f"no upcaster for task.ready v{gap}"):
            u.upcast(_record("task.ready", 1, {}))


@given(PAYLOADS, st.sampled_from(["task.submitted", "queue.paused", "schedule.fired"]))
def test_records_of_the_current_version_round_trip_through_the_codec(
    payload: dict[str, Any], type_: str
) -> None:
    record = _record(type_, CURRENT_SCHEMA_VERSION, payload)
    event = msgspec.convert(record, Envelope)
    assert decode(encode(event)) == event
    assert decode(json.dumps(record).encode()) == event
