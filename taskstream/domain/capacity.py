"""Dispatch pacing: how many tasks a partition may have in flight, and in what order."""

from __future__ import annotations

import math


def partition_share(capacity: int, partitions: int, overcommit: float) -> int:
    """In-flight limit of one partition for a queue of `capacity` worker slots.

    Each of the `partitions` scheduler partitions may keep its share of the queue's
    capacity (times `overcommit`, so workers never idle between reports) in flight.
    At least one, so every partition makes progress.
    """
    if partitions < 1:
        raise ValueError("partitions must be ≥ 1")
    if capacity <= 0:
        return 1
    return max(1, math.ceil(capacity * overcommit / partitions))


def ready_key(priority: int, ready_at: float, seq: int) -> tuple[int, float, int]:
    """Sort key of a ready task: priority desc, then ready time asc, then arrival."""
    return (-priority, ready_at, seq)
