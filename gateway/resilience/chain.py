"""One upstream call as it passes the layers, and how the layers are put together.

Each layer is a small callable wrapping the next one (lura's middlewares, httpx's
transports): `layer(call) -> await inner(call)`. `UpstreamClient` composes them as

    DeadlineLayer → BreakerLayer → RetryLayer → attempt (exchange → classify)

`UpstreamCall` carries what one canonical request's call to an upstream needs and
what its last attempt learnt (status, headers, outcome) for the layers outside it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..config.model import Resilience, UpstreamSpec
    from ..upstream import OutboundRequest
    from .deadline import Budget

__all__ = ["UpstreamCall", "Next", "IDEMPOTENT_METHODS"]

# RFC 9110 9.2.2; POST and PATCH only when the mapping declares the request idempotent.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})


@dataclass
class UpstreamCall:
    upstream: UpstreamSpec
    operation: str
    request: OutboundRequest
    budget: Budget
    policy: Resilience
    request_id: str = ""
    attempt: int = 0  # 1 for the first attempt
    status: int | None = None  # the last attempt's HTTP status; None: no answer
    headers: Any = None
    outcome: str = "ok"  # the last attempt's outcome label

    @property
    def idempotent(self) -> bool:
        return self.request.idempotent or self.request.method in IDEMPOTENT_METHODS

    def timeout(self) -> float:
        """This attempt's time: the upstream's timeout, or what is left of the deadline."""
        return max(0.001, min(self.upstream.total_timeout, self.budget.remaining()))

    @property
    def failed_upstream(self) -> bool:
        """The upstream failed (for the breaker and retries): no answer, or a 5xx."""
        if self.outcome in ("timeout", "connect_error"):
            return True
        return self.status is not None and self.status >= 500 and self.status != 501


Next = Callable[[UpstreamCall], Awaitable[Any]]
