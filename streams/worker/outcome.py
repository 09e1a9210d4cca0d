"""How an attempt's outcome is written down: errors, tracebacks and results within limits."""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter

from taskstream.codec import encode_dict
from taskstream.domain.commands import FailAttempt
from taskstream.registry import NonRetryableError


def _limit(name: str) -> int:
    for meta in FailAttempt.model_fields[name].metadata:
        limit = getattr(meta, "max_length", None)
        if isinstance(limit, int):
            return limit
    raise LookupError(f"FailAttempt.{name} has no max_length")


ERROR_LIMIT = _limit("error")
TRACEBACK_LIMIT = _limit("traceback")
_ANY: TypeAdapter[Any] = TypeAdapter(Any)


@dataclass(frozen=True, slots=True)
class Failure:
    """A failed attempt as the `attempt.fail` report carries it."""

    error: str
    traceback: str
    retryable: bool


def truncate(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, saying so when it was cut."""
    if len(text) <= limit:
        return text
    marker = f"… [truncated: {len(text)} characters, first {{kept}} kept]"
    kept = max(0, limit - len(marker.format(kept=limit)))
    return text[:kept] + marker.format(kept=kept)


def failure_from(exc: BaseException) -> Failure:
    """The report of an attempt whose handler raised `exc`."""
    message = str(exc)
    error = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    tb = "".join(traceback.format_exception(exc))
    return Failure(
        error=truncate(error, ERROR_LIMIT),
        traceback=truncate(tb, TRACEBACK_LIMIT),
        retryable=not isinstance(exc, NonRetryableError),
    )


def failure(error: str, *, retryable: bool) -> Failure:
    """A failure the runtime decided on (timeout, shutdown, unknown type)."""
    return Failure(error=truncate(error, ERROR_LIMIT), traceback="", retryable=retryable)


def check_result(result: Any, max_bytes: int) -> tuple[Any, Failure | None]:
    """The result as JSON data, or the non-retryable failure of a result that cannot be sent."""
    try:
        data = _ANY.dump_python(result, mode="json")
        size = len(encode_dict({"result": data}))
    except Exception as exc:
        detail = truncate(f"{type(exc).__name__}: {exc}", 500)
        return None, failure(
            f"handler returned a result that is not JSON-serialisable "
            f"({type(result).__name__}): {detail}",
            retryable=False,
        )
    if size > max_bytes:
        return None, failure(
            f"handler returned a result of {size} bytes, over the limit of {max_bytes} "
            "(TASKSTREAM_MAX_PAYLOAD_BYTES)",
            retryable=False,
        )
    return data, None
