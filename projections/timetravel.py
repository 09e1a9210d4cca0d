"""Time travel: a task as it was at a version or a moment, folded from its archived events.

Pure. The fold is the domain's own `evolve`, the one the scheduler runs, so the state
shown for version n is exactly the state the scheduler had after event n.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from taskstream.codec import envelope_from
from taskstream.domain.envelope import FIELDS, Envelope
from taskstream.domain.machine import evolve
from taskstream.domain.state import TaskState

At = int | datetime

ACCEPTED_FORMS = (
    "a version number (0, 1, 2, ...) or an ISO 8601 time with a UTC offset, "
    "e.g. 7 or 2026-01-31T09:00:00Z"
)
# A `+hh:mm` offset whose `+` became a space in an unencoded query string.
_SPACED_OFFSET = re.compile(r" (\d\d(?::?\d\d)?)$")


# Versions are Postgres integers.
MAX_VERSION = 2**31 - 1


def parse_at(text: str) -> At:
    """`at` as a version (`int`) or an aware UTC time; `ValueError` naming the forms."""
    value = text.strip()
    if value.isascii() and value.isdigit():
        if int(value) > MAX_VERSION:
            raise ValueError(f"a version must be ≤ {MAX_VERSION}")
        return int(value)
    try:
        moment = datetime.fromisoformat(_SPACED_OFFSET.sub(r"+\1", value))
    except ValueError:
        raise ValueError(f"must be {ACCEPTED_FORMS}") from None
    if moment.tzinfo is None:
        raise ValueError(f"needs a UTC offset: must be {ACCEPTED_FORMS}")
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # e.g. 9999-12-31T23:00-05:00 is past year 9999 in UTC
        raise ValueError("is out of range in UTC") from None


def envelope_of(row: Mapping[str, Any]) -> Envelope:
    """An archived event (as the read model lists it) back as an envelope, upcast
    (`DecodeError` if it is none)."""
    return envelope_from({k: v for k, v in row.items() if k in FIELDS})


def until(events: Iterable[Envelope], at: At) -> list[Envelope]:
    """The events (log order kept) that had happened at version or time `at`."""
    if isinstance(at, int):
        return [ev for ev in events if ev.version <= at]
    return [ev for ev in events if ev.occurred_at <= at]


def state_at(events: Iterable[Envelope], at: At) -> TaskState | None:
    """The task after its events up to `at`, or None if it did not exist yet.

    Raises `ValueError` when the history does not fold (a version gap in the archive).
    """
    state: TaskState | None = None
    for ev in until(events, at):
        state = evolve(state, ev)
    return state


def as_of(state: TaskState) -> dict[str, Any]:
    """The state in the API's shape, with the version and time it holds from."""
    return {
        **state.as_dict(),
        "as_of": {"version": state.version, "at": state.updated_at.isoformat()},
    }
