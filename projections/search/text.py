"""Searchable text out of JSON values, bounded (pure; shared by both backends)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any


def leaf_text(value: Any) -> Iterator[str]:
    """The string and number leaves of a JSON value, depth first (keys left out)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, bool) or value is None:
        return
    elif isinstance(value, int | float):
        yield str(value)
    elif isinstance(value, dict):
        for item in value.values():
            yield from leaf_text(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from leaf_text(item)


def bounded_join(parts: Iterable[str], max_chars: int) -> str:
    """`parts` joined by spaces, stopping at `max_chars` characters."""
    out: list[str] = []
    size = 0
    for part in parts:
        if size >= max_chars:
            break
        piece = part[: max_chars - size]
        out.append(piece)
        size += len(piece) + 1
    return " ".join(out)
