"""Row-by-row differences between two tables read in primary-key order (pure).

Rows are tuples of column text (`NULL` is `None`); both sides come sorted by the key, so
one merge pass finds every missing, extra and changed row without holding a table in
memory.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

Row = tuple[str | None, ...]

# Columns that legitimately differ between a live model and its rebuild, and why.
IGNORED: Mapping[str, Mapping[str, str]] = {
    "projection_checkpoints": {
        "updated_at": "wall-clock time of the projector's commit",
    },
    "task_attempts": {
        "version": "task version of the batch that last wrote the row: depends on where "
        "batch boundaries fell, not on the events",
    },
    "task_search": {
        "version": "task version the document was built from: written when a task appears or "
        "its errors change, so it depends on where batch boundaries fell",
    },
    "schema_migrations": {
        "applied_at": "wall-clock time the migration ran",
    },
}


@dataclass(frozen=True, slots=True)
class Difference:
    """One row that is not the same on both sides."""

    table: str
    kind: str  # "missing" (live only), "extra" (rebuild only), "changed"
    key: dict[str, str | None]
    columns: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)

    def describe(self) -> str:
        """One line for a person."""
        key = ", ".join(f"{k}={v}" for k, v in self.key.items())
        if self.kind == "missing":
            return f"{self.table} [{key}]: in the live model only"
        if self.kind == "extra":
            return f"{self.table} [{key}]: in the rebuild only"
        cols = "; ".join(f"{c}: live {a!r} != rebuilt {b!r}" for c, (a, b) in self.columns.items())
        return f"{self.table} [{key}]: {cols}"


def compared_columns(table: str, columns: Sequence[str]) -> list[str]:
    """`columns` without the ones `IGNORED` lists for `table`."""
    skip = IGNORED.get(table, {})
    return [c for c in columns if c not in skip]


def _key(row: Row, idx: Sequence[int]) -> tuple[tuple[bool, str], ...]:
    # NULLs cannot be in a primary key, but order them first rather than fail.
    return tuple((row[i] is not None, row[i] or "") for i in idx)


def diff_rows(
    table: str,
    columns: Sequence[str],
    key_columns: Sequence[str],
    live: Iterable[Row],
    rebuilt: Iterable[Row],
) -> Iterator[Difference]:
    """Every difference between `live` and `rebuilt`, both sorted by `key_columns`."""
    idx = [columns.index(k) for k in key_columns]
    a, b = iter(live), iter(rebuilt)
    x, y = next(a, None), next(b, None)
    while x is not None or y is not None:
        kx = _key(x, idx) if x is not None else None
        ky = _key(y, idx) if y is not None else None
        if y is None or (kx is not None and ky is not None and kx < ky):
            assert x is not None
            yield Difference(
                table, "missing", {k: x[i] for k, i in zip(key_columns, idx, strict=True)}
            )
            x = next(a, None)
        elif x is None or (kx is not None and ky is not None and ky < kx):
            yield Difference(
                table, "extra", {k: y[i] for k, i in zip(key_columns, idx, strict=True)}
            )
            y = next(b, None)
        else:
            changed = {c: (x[i], y[i]) for i, c in enumerate(columns) if x[i] != y[i]}
            if changed:
                key = {k: x[i] for k, i in zip(key_columns, idx, strict=True)}
                yield Difference(table, "changed", key, changed)
            x, y = next(a, None), next(b, None)


async def diff_streams(
    table: str,
    columns: Sequence[str],
    key_columns: Sequence[str],
    live: AsyncIterator[list[Row]],
    rebuilt: AsyncIterator[list[Row]],
) -> AsyncIterator[Difference]:
    """`diff_rows` over two streams of sorted chunks, holding one chunk of each at a time."""
    idx = [columns.index(k) for k in key_columns]
    buf_a: list[Row] = []
    buf_b: list[Row] = []
    end_a = end_b = False
    while True:
        if not buf_a and not end_a:
            buf_a = await anext(live, [])
            end_a = not buf_a
        if not buf_b and not end_b:
            buf_b = await anext(rebuilt, [])
            end_b = not buf_b
        if not buf_a and not buf_b:
            return
        # Compare everything up to the smaller of the two chunks' last keys; rows past it
        # wait for the next chunk of the other side.
        if buf_a and buf_b:
            limit = min(_key(buf_a[-1], idx), _key(buf_b[-1], idx))
        elif buf_a:
            limit = _key(buf_a[-1], idx)
        else:
            limit = _key(buf_b[-1], idx)
        take_a = [r for r in buf_a if _key(r, idx) <= limit]
        take_b = [r for r in buf_b if _key(r, idx) <= limit]
        buf_a, buf_b = buf_a[len(take_a) :], buf_b[len(take_b) :]
        for d in diff_rows(table, columns, key_columns, take_a, take_b):
            yield d
