"""Batches Postgres refuses for what they hold: find the records at fault, apply the rest.

A batch that fails for a passing reason (connection, deadlock, shutdown) is the caller's
to retry whole. A batch refused for its contents (a value out of range, a document too
deep) is split in halves until the refused records stand alone; each is handed to
`on_refused` (the live projectors dead-letter it, a rebuild counts it, so both end with
the same model), the checkpoint moves past it, and the rest is applied. More than
`refused_max` refused records in one batch means the fault is not in the records (a bad
migration, a bug): `TooManyRefused` is raised and the caller retries the batch.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol, TypeVar

import asyncpg

# SQLSTATE classes of failures that pass: connection exception, transaction rollback
# (serialization, deadlock), insufficient resources, operator intervention, system error.
_PASSING_CLASSES = frozenset({"08", "40", "53", "57", "58"})
_LOCK_NOT_AVAILABLE = "55P03"


class Placed(Protocol):
    """An item that knows where it was read from."""

    @property
    def partition(self) -> int: ...

    @property
    def offset(self) -> int: ...


ItemT = TypeVar("ItemT", bound=Placed)
ResultT = TypeVar("ResultT")


class TooManyRefused(Exception):
    """More records of one batch were refused than a batch plausibly holds bad ones."""


def refused(exc: BaseException) -> bool:
    """True if `exc` says Postgres (or the driver, encoding a value) refused what a batch
    holds, so applying it again would fail again; False for failures that pass."""
    if isinstance(exc, asyncpg.exceptions._base.DataError | OverflowError):
        # The driver cannot encode a value: `DataError` from a statement's arguments,
        # a bare `OverflowError` from binary COPY (an integer beyond its column's type).
        return True
    if isinstance(exc, asyncpg.PostgresError):
        state = str(getattr(exc, "sqlstate", "") or "")
        return state[:2] not in _PASSING_CLASSES and state != _LOCK_NOT_AVAILABLE
    return False


def covered(items: Sequence[Placed]) -> dict[int, int]:
    """The last offset of each partition in `items` (log order)."""
    out: dict[int, int] = {}
    for item in items:
        out[item.partition] = item.offset
    return out


async def apply_isolating(
    apply: Callable[[list[ItemT], dict[int, int]], Awaitable[ResultT]],
    items: list[ItemT],
    checkpoints: dict[int, int],
    *,
    refused_max: int,
    on_refused: Callable[[ItemT, BaseException], Awaitable[None]],
) -> list[tuple[list[ItemT], ResultT]]:
    """Apply `items` with `checkpoints`, setting refused records aside; returns each part
    applied with what applying it returned (one part when nothing was refused)."""
    try:
        return [(items, await apply(items, checkpoints))]
    except Exception as exc:
        if not refused(exc) or not items:
            raise
    out: list[tuple[list[ItemT], ResultT]] = []
    left = [refused_max]

    async def split(part: list[ItemT], ckpts: dict[int, int]) -> None:
        if len(part) > 1:
            mid = len(part) // 2
            # Log order: a partition's offsets in the head precede those in the tail.
            for half, half_ckpts in ((part[:mid], covered(part[:mid])), (part[mid:], ckpts)):
                try:
                    out.append((half, await apply(half, half_ckpts)))
                except Exception as exc:
                    if not refused(exc):
                        raise
                    await split(half, half_ckpts)
            return
        try:
            out.append((part, await apply(part, ckpts)))
            return
        except Exception as exc:
            if not refused(exc):
                raise
            if left[0] <= 0:
                raise TooManyRefused(
                    f"more than {refused_max} records of one batch refused"
                ) from exc
            left[0] -= 1
            await on_refused(part[0], exc)
        # The checkpoint moves past the refused record (and whatever else it covers).
        out.append(([], await apply([], ckpts)))

    await split(items, checkpoints)
    return out
