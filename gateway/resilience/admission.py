"""Admission of canonical requests, before any work: load shedding, then the consumer's
rate limit.

- More than `max_in_flight` canonical requests in flight in this process: 503
  `overloaded` with `Retry-After: 1`, at once — a queue without bound only turns an
  overload into timeouts for everyone.
- The consumer's token bucket is empty: 429 `rate-limited` with `Retry-After`; every
  answer carries `RateLimit` / `RateLimit-Policy` (see `ratelimit.py`).

`InFlight` also tells the graceful drain when the last request has finished.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from ..config.model import Consumer, GatewayConfig
from ..errors import Overloaded, RateLimited, RequestTimeout, Unauthorized
from ..metrics import Metrics
from . import ratelimit
from .ratelimit import Limiter

__all__ = ["InFlight", "admission_middleware", "read_body"]


async def read_body(request: web.Request, seconds: float) -> bytes:
    """The request body, or 408 when the client takes longer than `seconds` to send it
    (aiohttp bounds the headers, not a slow body)."""
    try:
        async with asyncio.timeout(seconds):
            return await request.read()
    except TimeoutError:
        raise RequestTimeout(f"the request body did not arrive within {seconds:g} s") from None


class InFlight:
    def __init__(self) -> None:
        self.count = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def enter(self) -> None:
        self.count += 1
        self._idle.clear()

    def leave(self) -> None:
        self.count -= 1
        if self.count == 0:
            self._idle.set()

    async def wait_idle(self) -> None:
        await self._idle.wait()


def admission_middleware(parts: Callable[[web.Request], tuple[GatewayConfig, InFlight, Limiter,
                                                               Metrics]],
                         authenticate: Callable[[web.Request, GatewayConfig], Consumer]
                         ) -> Middleware:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith("/v1/"):
            return await handler(request)
        config, in_flight, limiter, metrics = parts(request)
        if in_flight.count >= config.resilience.max_in_flight:
            metrics.rejected.labels("overloaded").inc()
            raise Overloaded(f"more than {config.resilience.max_in_flight} requests in flight; "
                             "retry shortly")
        in_flight.enter()
        try:
            try:
                consumer: Consumer | None = authenticate(request, config)
            except Unauthorized:  # the pipeline answers it, as it does for every request
                consumer = None
            limit = consumer.rate_limit if consumer is not None else None
            if consumer is None or limit is None:
                return await handler(request)
            decision = await limiter.take(consumer.name, limit)
            headers = ratelimit.headers(decision, limit)
            if not decision.allowed:
                metrics.rejected.labels("rate_limited").inc()
                raise RateLimited(f"rate limit of {limit.requests_per_second:g} requests/s "
                                  f"(burst {limit.burst}) reached",
                                  retry_after=ratelimit.retry_after(decision, limit),
                                  headers=headers)
            response = await handler(request)
            response.headers.update(headers)
            return response
        finally:
            in_flight.leave()

    return middleware
