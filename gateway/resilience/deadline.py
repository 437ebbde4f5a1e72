"""The end-to-end deadline of one canonical request, and the layer that enforces it.

A `Budget` starts when the pipeline starts a canonical request and is shared by every
upstream call that request makes (steps, pages, retries). Each call gets the time that
is left, capped by the upstream's own timeout; once it is spent the call is not made
and the client gets 504. The budget also remembers whether a non-idempotent upstream
request may have reached the upstream, which the idempotency layer needs to know.

The time left is enforced once for the whole request where the pipeline runs it inside
`Budget.bound()`; a call made outside one (a tool's single call) gets its own timer in
`DeadlineLayer`. One timer per request rather than one per upstream call: a walk of
three pages arms one, not three (each costs about 10 µs under load).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType

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
    bounded: bool = False  # inside `bound()`: the whole request is timed already

    def bound(self, upstream: str) -> Bound:
        """`async with budget.bound(name):` ends what runs inside when the time left is
        spent (504 for `upstream`); calls inside need no timer of their own."""
        return Bound(self, upstream)

    @classmethod
    def start(cls, seconds: float, clock: Callable[[], float]) -> Budget:
        return cls(seconds, clock() + seconds, clock)

    def remaining(self) -> float:
        return self.expires_at - self.clock()

    def exceeded(self, upstream: str) -> UpstreamTimeout:
        return UpstreamTimeout(f"the request's deadline of {self.seconds:g} s ran out "
                               f"waiting for {upstream}")


class Bound:
    """What `Budget.bound()` gives: the time left, as one timer for what runs inside."""

    __slots__ = ("_budget", "_upstream", "_timeout")

    def __init__(self, budget: Budget, upstream: str) -> None:
        self._budget, self._upstream = budget, upstream
        self._timeout = asyncio.timeout(budget.remaining())

    async def __aenter__(self) -> None:
        await self._timeout.__aenter__()
        self._budget.bounded = True

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        traceback: TracebackType | None) -> None:
        self._budget.bounded = False
        try:  # raises TimeoutError only when this timer ended what ran inside
            await self._timeout.__aexit__(kind, error, traceback)
        except TimeoutError:
            raise self._budget.exceeded(self._upstream) from None


class DeadlineLayer:
    """Refuse a call once the budget is spent; bound the whole call (retries and their
    waits included) by what is left of it."""

    def __init__(self, inner: Next) -> None:
        self._inner = inner

    async def __call__(self, call: UpstreamCall) -> object:
        left = call.budget.remaining()
        if left <= 0:
            raise call.budget.exceeded(call.upstream.name)
        if call.budget.bounded:
            return await self._inner(call)
        try:
            async with asyncio.timeout(left):
                return await self._inner(call)
        except TimeoutError:
            raise call.budget.exceeded(call.upstream.name) from None
