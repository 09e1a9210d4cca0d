"""Log records as JSON Lines (pure): what `taskstream log export` writes and `import` reads.

One object per record: `topic`, `partition`, `offset`, `timestamp` (ms), `key`, `value`,
`headers`. A value is written as JSON when its bytes are exactly what re-encoding that
JSON gives back (every record Taskstream writes), so an import is byte-exact; anything
else (other JSON spellings, binary) is base64. `key_encoding` and `value_encoding` say
which: `utf8`/`json`, `base64`, or `null`.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson


@dataclass(frozen=True, slots=True)
class LogRecord:
    """One record of a topic, with where it was."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp: int | None = None
    headers: tuple[tuple[str, bytes], ...] = field(default_factory=tuple)


class BadLine(ValueError):
    """A line that is not an exported record; the message says which field."""


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _value(raw: bytes | None) -> tuple[Any, str]:
    if raw is None:
        return None, "null"
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return _b64(raw), "base64"
    if orjson.dumps(doc) == raw:
        return doc, "json"
    return _b64(raw), "base64"


def _key(raw: bytes | None) -> tuple[str | None, str]:
    if raw is None:
        return None, "null"
    try:
        return raw.decode("utf-8"), "utf8"
    except UnicodeDecodeError:
        return _b64(raw), "base64"


def encode_line(record: LogRecord) -> bytes:
    """One JSON line (with its newline)."""
    key, key_encoding = _key(record.key)
    value, value_encoding = _value(record.value)
    doc = {
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "timestamp": record.timestamp,
        "key": key,
        "key_encoding": key_encoding,
        "value": value,
        "value_encoding": value_encoding,
        "headers": [[k, _b64(v)] for k, v in record.headers],
    }
    return orjson.dumps(doc) + b"\n"


def _field(doc: dict[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    value = doc.get(name)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise BadLine(f"field {name!r} must be {getattr(kind, '__name__', kind)}, got {value!r}")
    return value


def _unb64(text: Any, name: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (TypeError, ValueError) as exc:
        raise BadLine(f"field {name!r} is not valid base64") from exc


def _decode_value(doc: dict[str, Any]) -> bytes | None:
    encoding = doc.get("value_encoding")
    if encoding == "null":
        return None
    if encoding == "json":
        return orjson.dumps(doc.get("value"))
    if encoding == "base64":
        return _unb64(doc.get("value"), "value")
    raise BadLine(f"field 'value_encoding' must be json, base64 or null, got {encoding!r}")


def _decode_key(doc: dict[str, Any]) -> bytes | None:
    encoding = doc.get("key_encoding")
    if encoding == "null":
        return None
    if encoding == "utf8":
        return str(_field(doc, "key", str)).encode("utf-8")
    if encoding == "base64":
        return _unb64(doc.get("key"), "key")
    raise BadLine(f"field 'key_encoding' must be utf8, base64 or null, got {encoding!r}")


def decode_line(line: bytes | str) -> LogRecord:
    """The record in one line (raises `BadLine` naming the field)."""
    try:
        doc = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise BadLine(f"not JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise BadLine("a line must be a JSON object")
    partition = _field(doc, "partition", int)
    offset = _field(doc, "offset", int)
    if partition < 0 or offset < 0:
        raise BadLine("fields 'partition' and 'offset' must be >= 0")
    timestamp = doc.get("timestamp")
    if timestamp is not None and (not isinstance(timestamp, int) or isinstance(timestamp, bool)):
        raise BadLine(f"field 'timestamp' must be an integer or null, got {timestamp!r}")
    headers: Sequence[Any] = doc.get("headers") or []
    if not isinstance(headers, list) or not all(
        isinstance(h, list) and len(h) == 2 and isinstance(h[0], str) for h in headers
    ):
        raise BadLine("field 'headers' must be a list of [name, base64 value] pairs")
    return LogRecord(
        topic=_field(doc, "topic", str),
        partition=partition,
        offset=offset,
        key=_decode_key(doc),
        value=_decode_value(doc),
        timestamp=timestamp,
        headers=tuple((k, _unb64(v, "headers")) for k, v in headers),
    )
