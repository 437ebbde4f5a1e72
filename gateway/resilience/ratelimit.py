"""Per-consumer rate limits: a token bucket, in this process or shared in Redis.

A consumer's bucket holds `burst` tokens and refills at `requests_per_second`; each
canonical request takes one. Every answer carries the IETF httpapi ratelimit-headers
fields (draft 09): `RateLimit-Policy: "burst";q=<burst>;w=<seconds to refill>` and
`RateLimit: "burst";r=<tokens left>;t=<seconds until full>`; an empty bucket answers
429 with `Retry-After` (seconds until the next token).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from ..config.model import RateLimit

__all__ = ["Decision", "Limiter", "MemoryLimiter", "decide", "headers"]

POLICY = "burst"


@dataclass(frozen=True)
class Decision:
    allowed: bool
    tokens: float  # left after this request


class Limiter(Protocol):
    async def take(self, consumer: str, limit: RateLimit) -> Decision: ...


def decide(tokens: float, elapsed: float, limit: RateLimit) -> tuple[bool, float]:
    """One request against a bucket that had `tokens` `elapsed` seconds ago."""
    tokens = min(float(limit.burst), tokens + max(0.0, elapsed) * limit.requests_per_second)
    if tokens >= 1.0:
        return True, tokens - 1.0
    return False, tokens


class MemoryLimiter:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # consumer -> (tokens, when)

    async def take(self, consumer: str, limit: RateLimit) -> Decision:
        now = self._clock()
        tokens, then = self._buckets.get(consumer, (float(limit.burst), now))
        allowed, tokens = decide(tokens, now - then, limit)
        self._buckets[consumer] = (tokens, now)
        return Decision(allowed, tokens)


def headers(decision: Decision, limit: RateLimit) -> dict[str, str]:
    rate = limit.requests_per_second
    window = max(1, math.ceil(limit.burst / rate))
    full_in = max(0, math.ceil((limit.burst - decision.tokens) / rate))
    return {"RateLimit-Policy": f'"{POLICY}";q={limit.burst};w={window}',
            "RateLimit": f'"{POLICY}";r={int(decision.tokens)};t={full_in}'}


def retry_after(decision: Decision, limit: RateLimit) -> int:
    return max(1, math.ceil((1.0 - decision.tokens) / limit.requests_per_second))
