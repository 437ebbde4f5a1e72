"""A circuit breaker per upstream, in this process.

    closed ──(N consecutive failures, or failure ratio over the window)──▶ open
    open ──(cool-down elapsed)──▶ half-open: one probe call goes through
    half-open ──probe succeeds──▶ closed      half-open ──probe fails──▶ open

While open (and while a probe is out) calls fail at once with 503 `circuit-open`
and a `Retry-After`, without reaching the upstream. A failure is what says the
upstream is unwell: a timeout, a connection failure or a 5xx; a 4xx, a decode error or
a "200 but failed" is the upstream working. The state is the gauge
`chat_gateway_circuit_breaker_state{upstream}`: 0 closed, 1 half-open, 2 open.

Per process on purpose, also with Redis: each replica judges the upstream by the calls
it makes itself (as Envoy's outlier detection does), a breaker decision costs no
network round trip, and an unreachable Redis cannot open or hold every circuit. Each
replica opens within `consecutive_failures` calls of an outage.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

from ..config.model import BreakerSettings
from ..errors import CircuitOpen, Problem
from ..metrics import Metrics
from .chain import Next, UpstreamCall

__all__ = ["CircuitBreaker", "Breakers", "BreakerLayer", "CLOSED", "HALF_OPEN", "OPEN"]

CLOSED, HALF_OPEN, OPEN = 0, 1, 2


class CircuitBreaker:
    def __init__(self, name: str, clock: Callable[[], float],
                 on_change: Callable[[str, int], None]) -> None:
        self.name = name
        self.state = CLOSED
        self._clock = clock
        self._on_change = on_change
        self._consecutive = 0
        self._window: deque[bool] = deque()  # True: a failure
        self._failures = 0  # how many True in the window, kept as it moves
        self._opened_at = 0.0
        self._probing = False

    def admit(self, settings: BreakerSettings) -> bool:
        """Whether a call may go now; the one admitted in half-open is the probe."""
        if self.state == OPEN and self._clock() - self._opened_at >= settings.cooldown_seconds:
            self._set(HALF_OPEN)
        if self.state == HALF_OPEN and not self._probing:
            self._probing = True
            return True
        return self.state == CLOSED

    def retry_after(self, settings: BreakerSettings) -> float:
        return max(0.0, settings.cooldown_seconds - (self._clock() - self._opened_at))

    def record(self, failed: bool, settings: BreakerSettings) -> None:
        if self.state == HALF_OPEN and self._probing:
            self._probing = False
            self._open() if failed else self._close()
            return
        self._consecutive = self._consecutive + 1 if failed else 0
        self._window.append(failed)
        self._failures += failed
        while len(self._window) > settings.window:
            self._failures -= self._window.popleft()
        failures = self._failures
        if self.state == CLOSED and (
                self._consecutive >= settings.consecutive_failures
                or (len(self._window) >= settings.min_calls
                    and failures / len(self._window) >= settings.failure_ratio)):
            self._open()

    def release(self) -> None:
        """The admitted call ended without a verdict (e.g. the client went away)."""
        self._probing = False

    def _open(self) -> None:
        self._opened_at = self._clock()
        self._set(OPEN)

    def _close(self) -> None:
        self._consecutive = 0
        self._window.clear()
        self._failures = 0
        self._set(CLOSED)

    def _set(self, state: int) -> None:
        if state != self.state:
            self.state = state
            self._on_change(self.name, state)


class Breakers:
    """The breakers of every upstream, kept across config reloads."""

    def __init__(self, metrics: Metrics, clock: Callable[[], float]) -> None:
        self._metrics = metrics
        self._clock = clock
        self._breakers: dict[str, CircuitBreaker] = {}

    def get(self, upstream: str) -> CircuitBreaker:
        breaker = self._breakers.get(upstream)
        if breaker is None:
            breaker = self._breakers[upstream] = CircuitBreaker(upstream, self._clock,
                                                                self._changed)
            self._changed(upstream, CLOSED)
        return breaker

    def _changed(self, upstream: str, state: int) -> None:
        self._metrics.circuit_state.labels(upstream).set(state)


class BreakerLayer:
    def __init__(self, inner: Next, breakers: Breakers) -> None:
        self._inner = inner
        self._breakers = breakers

    async def __call__(self, call: UpstreamCall) -> Any:
        settings = call.policy.breaker
        breaker = self._breakers.get(call.upstream.name)
        if not breaker.admit(settings):
            raise CircuitOpen(f"{call.upstream.name} is failing; calls to it are paused",
                              retry_after=breaker.retry_after(settings))
        verdict: bool | None = None
        try:
            result = await self._inner(call)
            verdict = False
            return result
        except Problem:
            verdict = call.failed_upstream
            raise
        finally:
            if verdict is None:
                breaker.release()
            else:
                breaker.record(verdict, settings)
