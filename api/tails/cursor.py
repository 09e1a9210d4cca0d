"""Tail cursors: where a client is in a topic, as the next offset of every partition.

A cursor is opaque to clients: URL-safe base64 of compact JSON `{"s": stream, "o":
{partition: next_offset}}`. A partition it does not name is read from its start when the
cursor is used to resume. All functions here are pure.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping

import orjson

Offsets = dict[int, int]

MAX_CURSOR_CHARS = 8192


class CursorError(ValueError):
    """A cursor that cannot be decoded, or one made for another stream."""


def position(partition: int, offset: int) -> str:
    """The log position of one record: `<partition>:<offset>`."""
    return f"{partition}:{offset}"


def encode(stream: str, offsets: Mapping[int, int]) -> str:
    """The cursor of `offsets` (next offset per partition) on `stream`."""
    doc = {"s": stream, "o": {str(p): o for p, o in sorted(offsets.items())}}
    return base64.urlsafe_b64encode(orjson.dumps(doc)).decode().rstrip("=")


def decode(stream: str, token: str) -> Offsets:
    """The offsets in `token`; raises CursorError if it is malformed or for another stream."""
    if not token or len(token) > MAX_CURSOR_CHARS:
        raise CursorError("the cursor is empty or too long")
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        doc = orjson.loads(raw)
    except (binascii.Error, ValueError) as exc:
        raise CursorError("the cursor is not one this server made") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("o"), dict):
        raise CursorError("the cursor is not one this server made")
    if doc.get("s") != stream:
        raise CursorError(f"the cursor belongs to the {doc.get('s')!r} stream, not {stream!r}")
    offsets: Offsets = {}
    for key, value in doc["o"].items():
        try:
            partition = int(key)
        except ValueError as exc:
            raise CursorError("the cursor names a partition that is not a number") from exc
        if not isinstance(value, int) or isinstance(value, bool) or value < 0 or partition < 0:
            raise CursorError("the cursor holds a negative or non-integer offset")
        offsets[partition] = value
    return offsets


def advance(offsets: Mapping[int, int], partition: int, offset: int) -> Offsets:
    """Offsets after the record at (`partition`, `offset`): never moves a partition back."""
    result = dict(offsets)
    result[partition] = max(result.get(partition, 0), offset + 1)
    return result


def merge(a: Mapping[int, int], b: Mapping[int, int]) -> Offsets:
    """The later of the two offsets of every partition named in either."""
    result = dict(a)
    for partition, offset in b.items():
        result[partition] = max(result.get(partition, 0), offset)
    return result


def missing(start: Mapping[int, int], end: Mapping[int, int]) -> dict[int, tuple[int, int]]:
    """Per partition, the half-open offset range `[from, to)` between `start` and `end`.

    A partition `start` does not name starts at 0; empty ranges are left out.
    """
    return {p: (start.get(p, 0), stop) for p, stop in sorted(end.items()) if start.get(p, 0) < stop}
