"""Upcasters: turn records of older schema versions into the current one, on read.

The log is never rewritten. A schema change bumps `schema_version` and registers a pure
function here from version N to N+1 for that record type; golden samples of every version
live in `tests/golden/`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from taskstream.domain.events import CURRENT_SCHEMA_VERSION

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]

# (type, from_version) -> function producing from_version + 1. Empty while v1 is current.
UPCASTERS: dict[tuple[str, int], Upcaster] = {}


def upcast(record: dict[str, Any]) -> dict[str, Any]:
    """The record at the current schema version."""
    version = int(record.get("schema_version", 1))
    type_ = str(record.get("type", ""))
    while version < CURRENT_SCHEMA_VERSION:
        step = UPCASTERS.get((type_, version))
        if step is None:
            raise ValueError(f"no upcaster for {type_} v{version}")
        record = step(record)
        version += 1
        record["schema_version"] = version
    return record
