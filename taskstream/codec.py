"""Wire codec: envelopes as compact JSON (msgspec), with upcasting on read."""

from __future__ import annotations

from typing import Any

import msgspec
import orjson

from taskstream.domain.envelope import Envelope
from taskstream.domain.errors import DecodeError
from taskstream.domain.events import CURRENT_SCHEMA_VERSION
from taskstream.domain.upcast import upcast

_ENCODER = msgspec.json.Encoder()
_DECODER = msgspec.json.Decoder(Envelope)


def encode(envelope: Envelope) -> bytes:
    """Bytes of one record value."""
    return _ENCODER.encode(envelope)


def encode_dict(record: dict[str, Any]) -> bytes:
    """Bytes of a plain JSON record (dispatch, worker heartbeats, log lines)."""
    return orjson.dumps(record)


def envelope_from(data: dict[str, Any]) -> Envelope:
    """The envelope in a decoded JSON object, upcast to the current schema (raises
    DecodeError). Lax as JSON decoding is not: a number in a string is taken."""
    try:
        return msgspec.convert(upcast(data), Envelope, strict=False)
    except (msgspec.ValidationError, ValueError) as exc:
        raise DecodeError(f"not an envelope: {exc}".replace("\n", " ")[:2000]) from exc


def decode(raw: bytes | None) -> Envelope:
    """The envelope in one record value, upcast to the current schema (raises DecodeError).

    A record at the current schema is parsed and validated in one step; anything else
    (an older schema, a lax or invalid value) is parsed to builtins, upcast, then
    converted, or refused with the reason.
    """
    if raw is None:
        raise DecodeError("record has no value")
    try:
        event = _DECODER.decode(raw)
    except (msgspec.ValidationError, msgspec.DecodeError):
        pass
    else:
        if event.schema_version == CURRENT_SCHEMA_VERSION:
            return event
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise DecodeError(f"not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise DecodeError("record value is not a JSON object")
    return envelope_from(data)


def decode_dict(raw: bytes | None) -> dict[str, Any]:
    """A plain JSON object record (raises DecodeError)."""
    try:
        data = orjson.loads(raw or b"")
    except orjson.JSONDecodeError as exc:
        raise DecodeError(f"not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise DecodeError("record value is not a JSON object")
    return data
