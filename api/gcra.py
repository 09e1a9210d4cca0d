"""The rate limiter's arithmetic: GCRA (generic cell rate algorithm), pure.

A key may make `burst` requests at once, then one every `1/rate` seconds. The state is
one number per key, the theoretical arrival time (TAT) of its next request; the Lua
script in `api.ratelimit` runs the same steps inside Redis, atomically. Times are
integer microseconds so Lua (doubles) and Python agree exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

MICROS = 1_000_000


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of one request against a key's limit."""

    allowed: bool
    tat: int  # the state to store (unchanged when refused)
    remaining: int  # requests that would be allowed right now, after this one
    retry_after_us: int  # 0 when allowed; else when the next request can pass
    reset_us: int  # until the key is back to its full burst


def interval_us(rate: float) -> int:
    """Microseconds between two requests at the sustained `rate` (per second)."""
    if rate <= 0:
        raise ValueError("rate must be > 0")
    return max(1, round(MICROS / rate))


def gcra(tat: int | None, now: int, *, interval: int, burst: int) -> Decision:
    """Decide one request at `now` for a key whose stored TAT is `tat` (None: never seen)."""
    if burst < 1:
        raise ValueError("burst must be ≥ 1")
    tolerance = interval * burst
    base = max(tat if tat is not None else now, now)
    new_tat = base + interval
    ahead = new_tat - now  # how far the key has borrowed into the future
    if ahead > tolerance:
        return Decision(
            allowed=False,
            tat=base,
            remaining=0,
            retry_after_us=ahead - tolerance,
            reset_us=base - now,
        )
    return Decision(
        allowed=True,
        tat=new_tat,
        remaining=(tolerance - ahead) // interval,
        retry_after_us=0,
        reset_us=ahead,
    )
