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
import random as _random
from collections.abc import Awaitable, Callable
from typing import Any

from ..errors import Problem
from ..metrics import Metrics
from .chain import Next, UpstreamCall

__all__ = ["RetryLayer", "retry_reason"]

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
                 sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep) -> None:
        self._inner = inner
        self._metrics = metrics
        self._random = random
        self._sleep = sleep

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
        asked = _retry_after(call.headers) if call.status in (429, 503) else None
        if asked is not None:
            return asked if asked <= _MAX_RETRY_AFTER else None
        if call.status == 429:
            return None  # rate limited without saying for how long: let the client wait
        ceiling = min(settings.max_backoff_seconds,
                      settings.backoff_seconds * 2 ** (call.attempt - 1))
        return self._random() * ceiling


def _retry_after(headers: Any) -> float | None:
    """Retry-After in seconds when given as delta-seconds (a date is not waited for)."""
    value = (headers.get("Retry-After") or "").strip() if headers is not None else ""
    return float(value) if value.isdigit() else None
