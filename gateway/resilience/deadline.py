"""The end-to-end deadline of one canonical request, and the layer that enforces it.

A `Budget` starts when the pipeline starts a canonical request and is shared by every
upstream call that request makes (steps, pages, retries). Each call gets the time that
is left, capped by the upstream's own timeout; once it is spent the call is not made
and the client gets 504. The budget also remembers whether a non-idempotent upstream
request may have reached the upstream, which the idempotency layer needs to know.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import UpstreamTimeout
from .chain import Next, UpstreamCall

__all__ = ["Budget", "DeadlineLayer"]


@dataclass
class Budget:
    seconds: float
    expires_at: float
    clock: Callable[[], float]
    unsafe_sent: bool = False  # a non-idempotent request may have reached an upstream
    unsafe_answered: int | None = None  # that request's HTTP status, when it was answered

    @classmethod
    def start(cls, seconds: float, clock: Callable[[], float]) -> Budget:
        return cls(seconds, clock() + seconds, clock)

    def remaining(self) -> float:
        return self.expires_at - self.clock()

    def exceeded(self, upstream: str) -> UpstreamTimeout:
        return UpstreamTimeout(f"the request's deadline of {self.seconds:g} s ran out "
                               f"waiting for {upstream}")


class DeadlineLayer:
    """Refuse a call once the budget is spent; bound the whole call (retries and their
    waits included) by what is left of it."""

    def __init__(self, inner: Next) -> None:
        self._inner = inner

    async def __call__(self, call: UpstreamCall) -> object:
        left = call.budget.remaining()
        if left <= 0:
            raise call.budget.exceeded(call.upstream.name)
        try:
            async with asyncio.timeout(left):
                return await self._inner(call)
        except TimeoutError:
            raise call.budget.exceeded(call.upstream.name) from None
