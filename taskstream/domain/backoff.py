"""Retry backoff: exponential growth, bounded, with full jitter."""

from __future__ import annotations


def compute_backoff(
    attempt: int,
    *,
    base: float,
    factor: float,
    max_backoff: float,
    draw: float,
    min_backoff: float = 0.0,
) -> float:
    """Seconds to wait after failed attempt `attempt` (1-based).

    Full jitter: a uniform share (`draw` in [0, 1)) of the exponential ceiling
    `base * factor**(attempt-1)`, capped at `max_backoff`, floored at `min_backoff`.
    """
    if attempt < 1:
        raise ValueError("attempt is 1-based")
    if not 0.0 <= draw < 1.0:
        raise ValueError("draw must be in [0, 1)")
    exponent = min(attempt - 1, 64)  # keep the float finite
    ceiling = min(max_backoff, base * factor**exponent)
    return max(min_backoff, min(ceiling, ceiling * draw))
