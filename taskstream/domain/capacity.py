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


def process_budget(capacity: int, partitions: int, overcommit: float, *, owned: int) -> int:
    """In-flight limit of a scheduler process owning `owned` of `partitions` for a queue of
    `capacity` worker slots: its partitions' shares pooled, so one busy partition may use
    the slots its idle neighbours leave. Processes owning disjoint partitions together
    stay within the partitions' shares summed."""
    if not 0 <= owned <= partitions:
        raise ValueError("owned must be between 0 and partitions")
    return owned * partition_share(capacity, partitions, overcommit)


def ready_key(priority: int, ready_at: float, seq: int) -> tuple[int, float, int]:
    """Sort key of a ready task: priority desc, then ready time asc, then arrival."""
    return (-priority, ready_at, seq)


def limited_capacity(limit: int, capacity: int, overcommit: float) -> int:
    """Slots of a queue with a concurrency limit: the limit, or less when its live workers
    (times `overcommit`) offer less. Never more than `limit`."""
    if limit < 0 or capacity < 0:
        raise ValueError("limit and capacity must be ≥ 0")
    return min(limit, math.ceil(capacity * overcommit))


def strict_share(total: int, partitions: int, partition: int, epoch: int = 0) -> int:
    """Partition `partition`'s share of `total` slots; the shares of all partitions sum to
    exactly `total` (unlike `partition_share`, which rounds up).

    The `total mod partitions` extra slots go to consecutive partitions starting at
    `epoch mod partitions`, so moving the epoch on rotates them: with fewer slots than
    partitions, every partition gets one in turn.
    """
    if partitions < 1:
        raise ValueError("partitions must be ≥ 1")
    if total < 0:
        raise ValueError("total must be ≥ 0")
    base, extra = divmod(total, partitions)
    return base + (1 if (partition - epoch) % partitions < extra else 0)


def pooled_quota(total: int, partitions: int, owned: frozenset[int], epoch: int = 0) -> int:
    """In-flight limit of one scheduler process owning `owned` partitions for a queue of
    `total` slots: the sum of its partitions' strict shares (all of `total` when it owns
    every partition), so the quotas of processes owning disjoint partitions sum to at
    most `total`."""
    return sum(strict_share(total, partitions, p, epoch) for p in owned)
