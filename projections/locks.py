"""The projectors' batch lock: a rebuild's switch-over waits for no batch to be mid-flight.

Every projector batch transaction takes the shared advisory lock first (members and the
events and logs loops never block each other); a switch-over takes it exclusively, so it
runs between batches, and batches that start meanwhile wait for it to commit.
"""

from __future__ import annotations

from typing import Any

# An arbitrary constant: "tsbatch".
BATCH_LOCK = 0x7473_6261_7463_68


async def share_batch_lock(conn: Any) -> None:
    """Take the batch lock shared, for the rest of `conn`'s transaction."""
    await conn.execute("SELECT pg_advisory_xact_lock_shared($1)", BATCH_LOCK)


async def hold_batch_lock(conn: Any) -> None:
    """Take the batch lock exclusively, for the rest of `conn`'s transaction."""
    await conn.execute("SELECT pg_advisory_xact_lock($1)", BATCH_LOCK)
