"""Sending bulk requests: explicit action lines, conflicts ignored, overload retried.

Each action is an `(action, source)` pair; the request body is those lines in order
(`ndjson` shows it as sent). Per item: 2xx is done; 409 (an older task version arriving
after a newer one, or a log line already stored) is expected and ignored; 429 and 5xx
are sent again with exponential backoff, only those items; anything else is a
`SearchIndexError` naming the index, id and reason. A request that fails as a whole
(connection, 429, 5xx) is retried the same way; after `retries` it raises
`SearchIndexUnavailable`, a `ConnectionError`, which the consumer loop retries.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

log = logging.getLogger(__name__)

Action = tuple[dict[str, Any], dict[str, Any]]
Sleep = Callable[[float], Awaitable[None]]


class BulkClient(Protocol):
    """The part of `AsyncElasticsearch` the bulk sender uses."""

    async def bulk(self, *, operations: list[dict[str, Any]], refresh: Any = ...) -> Any:
        """The `_bulk` API."""
        ...


class SearchIndexError(Exception):
    """Elasticsearch refused documents for a reason retrying cannot fix (mapping, size...)."""


class SearchIndexUnavailable(ConnectionError):
    """Elasticsearch did not take the batch after every retry (down or overloaded)."""


@dataclass(frozen=True, slots=True)
class BulkResult:
    """What one bulk call did."""

    written: int
    conflicts: int
    retried: int


def operations(actions: Sequence[Action]) -> list[dict[str, Any]]:
    """The request body of `actions`: action line, source line, in order."""
    body: list[dict[str, Any]] = []
    for action, source in actions:
        body.append(action)
        body.append(source)
    return body


def ndjson(actions: Sequence[Action]) -> bytes:
    """The `_bulk` body as newline-delimited JSON, each line ending in a newline."""
    return b"".join(orjson.dumps(line) + b"\n" for line in operations(actions))


def backoff(attempt: int, *, base: float, cap: float) -> float:
    """Delay before retry `attempt` (1, 2, ...): `base * 2**(attempt-1)`, at most `cap`."""
    return float(min(cap, base * 2 ** (attempt - 1)))


def _status_of(exc: BaseException) -> int | None:
    meta = getattr(exc, "meta", None)
    status = getattr(meta, "status", None) or getattr(exc, "status_code", None)
    return status if isinstance(status, int) else None


def _transient(exc: BaseException) -> bool:
    status = _status_of(exc)
    if status is not None:
        return status == 429 or status >= 500
    # elastic_transport's ConnectionError and TimeoutError carry no HTTP status.
    name = type(exc).__name__
    return isinstance(exc, OSError | TimeoutError) or name in {
        "ConnectionError",
        "ConnectionTimeout",
        "TransportError",
        "SerializationError",
    }


def _describe(item: dict[str, Any]) -> str:
    ((op, res),) = item.items()
    error = res.get("error") or {}
    reason = error.get("reason") if isinstance(error, dict) else str(error)
    kind = error.get("type") if isinstance(error, dict) else None
    return f"{op} {res.get('_index')}/{res.get('_id')}: {res.get('status')} {kind}: {reason}"


async def send(
    client: BulkClient,
    actions: Sequence[Action],
    *,
    retries: int = 5,
    base: float = 0.2,
    cap: float = 10.0,
    refresh: bool | str = False,
    sleep: Sleep = asyncio.sleep,
) -> BulkResult:
    """Send `actions` in one `_bulk` call (retrying what may pass later); see the module doc."""
    pending = list(actions)
    written = conflicts = retried = 0
    attempt = 0
    while pending:
        try:
            response = await client.bulk(operations=operations(pending), refresh=refresh)
        except Exception as exc:
            if not _transient(exc):
                raise SearchIndexError(f"bulk request refused: {exc!r}") from exc
            attempt += 1
            if attempt > retries:
                raise SearchIndexUnavailable(
                    f"bulk request failed {attempt} times, last: {exc!r}"
                ) from exc
            delay = backoff(attempt, base=base, cap=cap)
            log.warning(
                "bulk request failed, retrying", extra={"error": repr(exc), "retry_in": delay}
            )
            await sleep(delay)
            continue
        body = getattr(response, "body", response)
        again: list[Action] = []
        refused: list[str] = []
        for action, item in zip(pending, body.get("items", []), strict=True):
            ((_, res),) = item.items()
            status = int(res.get("status", 500))
            if status < 300:
                written += 1
            elif status == 409:
                conflicts += 1
            elif status == 429 or status >= 500:
                again.append(action)
            else:
                refused.append(_describe(item))
        if refused:
            more = f" (and {len(refused) - 1} more)" if len(refused) > 1 else ""
            raise SearchIndexError(f"elasticsearch refused {refused[0]}{more}")
        if again:
            attempt += 1
            retried += len(again)
            if attempt > retries:
                raise SearchIndexUnavailable(
                    f"{len(again)} documents still refused with 429/5xx after {retries} retries"
                )
            await sleep(backoff(attempt, base=base, cap=cap))
        pending = again
    return BulkResult(written, conflicts, retried)
