"""Requests per second per API key, counted in Redis with one atomic Lua script (GCRA).

Every API process shares the count. When Redis does not answer within
`rate_limit_redis_timeout_seconds`, requests pass (fail open): a warning is logged (at
most once per `_WARN_EVERY` seconds) and `taskstream_api_rate_limit_unavailable_total`
counts them. Refusals are 429 problem+json with `Retry-After`; every limited answer
carries `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset`.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass
from typing import Any, Protocol

from api.gcra import MICROS, Decision, interval_us

log = logging.getLogger(__name__)

_WARN_EVERY = 30.0
KEY_PREFIX = "taskstream:ratelimit:"

# KEYS[1]: the key's TAT. ARGV: interval (µs), burst. Same steps as api.gcra.gcra; the
# clock is Redis's, so every API process agrees. Returns allowed, remaining, retry, reset.
GCRA_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tolerance = interval * burst
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
local base = math.max(tat, now)
local new_tat = base + interval
local ahead = new_tat - now
if ahead > tolerance then
  return {0, 0, ahead - tolerance, base - now}
end
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', math.ceil(ahead / 1000) + 1)
return {1, math.floor((tolerance - ahead) / interval), 0, ahead}
"""


class Script(Protocol):
    """A registered Redis script (redis-py `AsyncScript`)."""

    async def __call__(self, keys: list[str], args: list[Any]) -> Any:
        """Run it."""
        ...


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the API does with one request: pass or refuse, and the headers to send."""

    allowed: bool
    headers: dict[str, str]


def verdict(decision: Decision, *, limit: int) -> Verdict:
    """Headers for a decision (seconds rounded up: never invite a retry that fails)."""
    headers = {
        "RateLimit-Limit": str(limit),
        "RateLimit-Remaining": str(decision.remaining),
        "RateLimit-Reset": str(math.ceil(decision.reset_us / MICROS)),
    }
    if not decision.allowed:
        headers["Retry-After"] = str(max(1, math.ceil(decision.retry_after_us / MICROS)))
    return Verdict(decision.allowed, headers)


class RateLimiter:
    """GCRA per key id in Redis; `rate` <= 0 turns it off."""

    def __init__(
        self,
        script: Script | None,
        *,
        rate: float,
        burst: int,
        timeout: float,
    ) -> None:
        self._script = script
        self._rate = rate
        self._burst = burst
        self._timeout = timeout
        self._interval = interval_us(rate) if rate > 0 else 0
        self._warned_at = -math.inf

    @property
    def enabled(self) -> bool:
        """Whether requests are counted at all."""
        return self._script is not None and self._rate > 0

    async def check(self, key_id: str) -> Verdict | None:
        """The verdict for one request with `key_id`; None when not counted: the limit is
        off, or Redis is unavailable (fail open; the caller tells them apart by `enabled`)."""
        if self._script is None or self._rate <= 0:
            return None
        try:
            raw = await asyncio.wait_for(
                self._script(keys=[KEY_PREFIX + key_id], args=[self._interval, self._burst]),
                self._timeout,
            )
        except Exception as exc:  # any Redis or network failure: fail open
            self._unavailable(exc)
            return None
        allowed, remaining, retry, reset = (int(x) for x in raw)
        decision = Decision(bool(allowed), 0, remaining, retry, reset)
        return verdict(decision, limit=self._burst)

    def _unavailable(self, exc: BaseException) -> None:
        now = time.monotonic()
        if now - self._warned_at >= _WARN_EVERY:
            self._warned_at = now
            log.warning(
                "rate limiter unavailable: requests pass unlimited (fail open)",
                extra={"error": repr(exc)},
            )
