"""Wire codec: envelopes as compact JSON (orjson), with upcasting on read."""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import ValidationError

from taskstream.domain.envelope import Envelope
from taskstream.domain.errors import DecodeError
from taskstream.domain.upcast import upcast


def encode(envelope: Envelope) -> bytes:
    """Bytes of one record value."""
    return orjson.dumps(envelope.model_dump(mode="json"))


def encode_dict(record: dict[str, Any]) -> bytes:
    """Bytes of a plain JSON record (dispatch, worker heartbeats, log lines)."""
    return orjson.dumps(record)


def decode(raw: bytes | None) -> Envelope:
    """The envelope in one record value, upcast to the current schema (raises DecodeError)."""
    if raw is None:
        raise DecodeError("record has no value")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise DecodeError(f"not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise DecodeError("record value is not a JSON object")
    try:
        return Envelope.model_validate(upcast(data))
    except (ValidationError, ValueError) as exc:
        raise DecodeError(f"not an envelope: {exc}".replace("\n", " ")[:2000]) from exc


def decode_dict(raw: bytes | None) -> dict[str, Any]:
    """A plain JSON object record (raises DecodeError)."""
    try:
        data = orjson.loads(raw or b"")
    except orjson.JSONDecodeError as exc:
        raise DecodeError(f"not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise DecodeError("record value is not a JSON object")
    return data
