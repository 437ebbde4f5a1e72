"""Retries of idempotent upstream calls, with jittered exponential backoff.

Only a call whose request is idempotent (GET, HEAD, PUT, DELETE, OPTIONS, or a step
the mapping declares `idempotent: true`) is retried; a POST never is, so the gateway
cannot send a message twice. A retry happens after a timeout, a connection failure,
a 5xx or a 429, waits `random() * min(max, base * 2**n)` ("full jitter"), or the
upstream's `Retry-After` when it sent one, and only while the wait and another
attempt fit in the request's deadline. Random and sleep are injected for tests.
"""

from __future__ import annotations

import asyncio
import email.utils
import math
import random as _random
import re
import time
from collections.abc import Awaitable, Callable
from datetime import timezone
from typing import Any

from ..errors import Problem
from ..metrics import Metrics
from .chain import Next, UpstreamCall

__all__ = ["RetryLayer", "retry_reason", "retry_after_seconds"]

_MAX_RETRY_AFTER = 30.0


def retry_reason(call: UpstreamCall) -> str | None:
    """Why the last attempt is worth another (the metric's `reason`), or None."""
    if call.outcome in ("timeout", "connect_error"):
        return call.outcome
    if call.status == 429:
        return "rate_limited"
    if call.failed_upstream:
        return "http_5xx"
    return None


class RetryLayer:
    def __init__(self, inner: Next, metrics: Metrics, *,
                 random: Callable[[], float] = _random.random,
                 sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
                 now: Callable[[], float] = time.time) -> None:
        self._inner = inner
        self._metrics = metrics
        self._random = random
        self._sleep = sleep
        self._now = now  # wall clock: a Retry-After HTTP-date is wall-clock time

    async def __call__(self, call: UpstreamCall) -> Any:
        settings = call.policy.retry
        while True:
            call.attempt += 1
            try:
                return await self._inner(call)
            except Problem:
                reason = retry_reason(call)
                if reason is None or not call.idempotent or call.attempt >= settings.attempts:
                    raise
                wait = self._wait(call)
                if wait is None or wait >= call.budget.remaining():
                    raise  # no time left for another attempt: answer what we have
            self._metrics.upstream_retries.labels(call.upstream.name, call.operation, reason).inc()
            await self._sleep(wait)

    def _wait(self, call: UpstreamCall) -> float | None:
        settings = call.policy.retry
        asked = (retry_after_seconds(call.headers, self._now())
                 if call.status in (429, 503) else None)
        if asked is not None:
            return asked if asked <= _MAX_RETRY_AFTER else None
        if call.status == 429:
            return None  # rate limited without saying for how long: let the client wait
        ceiling = min(settings.max_backoff_seconds,
                      settings.backoff_seconds * 2 ** (call.attempt - 1))
        return float(self._random() * ceiling)


def retry_after_seconds(headers: Any, now: float) -> float | None:
    """Seconds an upstream's `Retry-After` asks for, as delta-seconds or an HTTP-date
    (RFC 9110 10.2.3), at least 0; None when absent or unreadable."""
    value = (headers.get("Retry-After") or "").strip() if headers is not None else ""
    if re.fullmatch(r"[0-9]{1,12}", value):
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return float(max(0, math.ceil(when.timestamp() - now)))
