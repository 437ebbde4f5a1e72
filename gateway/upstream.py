"""Calling an upstream: one HTTP exchange, read, decoded and classified.

`UpstreamClient.call()` is the only place the gateway talks to an upstream. It sends a
built request on the injected `aiohttp.ClientSession`, bounds the time and the size of
the answer, decodes it with the mapping's codecs, turns error statuses and
"200 but failed" envelopes into `Problem`s, and records one metric sample per call
with its outcome: ok, http_error, envelope_error, timeout, connect_error,
decode_error or rejected.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import random as _random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from yarl import URL

from .config.model import Resilience, UpstreamSpec
from .errors import (MappingError, NotFound, Problem, RateLimited, UpstreamError,
                     UpstreamTimeout, UpstreamUnavailable, InvalidRequest)
from .exchange import Answer
from .mapping.codecs import decode_body
from .metrics import Metrics
from .resilience.breaker import BreakerLayer, Breakers
from .resilience.chain import Next, UpstreamCall
from .resilience.deadline import Budget, DeadlineLayer
from .resilience.retry import RetryLayer

__all__ = ["UpstreamClient", "OutboundRequest", "same_origin", "count_sends"]

log = logging.getLogger("chat_gateway.upstream")
# How many times aiohttp sent the current attempt's request (see `count_sends`).
_RESENDS: contextvars.ContextVar[list[int]] = contextvars.ContextVar("resends", default=[0])


async def count_sends(request: aiohttp.ClientRequest, handler: Any) -> aiohttp.ClientResponse:
    """aiohttp client middleware: counts each send of a request. aiohttp re-sends an
    idempotent request once, silently, when a reused keep-alive connection turns out
    closed (RFC 9112 9.3.1); the middleware runs for each send, so the attempt sees 2."""
    _RESENDS.get()[0] += 1
    return await handler(request)


@dataclass
class OutboundRequest:
    method: str
    url: URL
    headers: dict[str, str]
    data: bytes | None = None
    format: str = "json"
    extra: dict[str, Any] = field(default_factory=dict)
    options: Any = None  # jmespath.Options carrying the call's ctx() for failure/error rules
    idempotent: bool = False  # declared by the mapping: may be retried even as POST/PATCH


def same_origin(upstream: UpstreamSpec, url: URL) -> bool:
    """A link from an upstream is followed only on its own scheme, host, port and prefix."""
    base = upstream.base_url
    prefix = base.path.rstrip("/") + "/"
    return (url.scheme == base.scheme and url.host == base.host and url.port == base.port
            and (url.path + "/").startswith(prefix))


class UpstreamClient:
    """Calls upstreams through the resilience layers (see `gateway.resilience`):

        deadline → breaker → retry → attempt (exchange → classify)
    """

    def __init__(self, session: aiohttp.ClientSession, metrics: Metrics,
                 clock: Callable[[], float] = time.monotonic, max_body_bytes: int = 16 << 20,
                 *, breakers: Breakers | None = None,
                 random: Callable[[], float] = _random.random,
                 sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep) -> None:
        self._session = session
        self._metrics = metrics
        self._clock = clock
        self._max_body = max_body_bytes
        self.breakers = breakers or Breakers(metrics, clock)
        self._chain: Next = DeadlineLayer(BreakerLayer(
            RetryLayer(self._attempt, metrics, random=random, sleep=sleep), self.breakers))

    def budget(self, seconds: float) -> Budget:
        """The deadline of one canonical request, on this client's clock."""
        return Budget.start(seconds, self._clock)

    async def call(self, upstream: UpstreamSpec, operation: str, request: OutboundRequest,
                   budget: Budget | None = None, policy: Resilience | None = None,
                   request_id: str = "", *, with_headers: bool = False) -> Any:
        """The decoded body; with `with_headers`, an `Answer` (body, headers, URL)."""
        policy = policy or Resilience()
        budget = budget or Budget.start(policy.deadline_for(upstream), self._clock)
        call = UpstreamCall(upstream, operation, request, budget, policy, request_id)
        data = await self._chain(call)
        return Answer(data, call.headers, request.url) if with_headers else data

    async def _attempt(self, call: UpstreamCall) -> Any:
        """One HTTP exchange, classified; measured and logged."""
        upstream, request = call.upstream, call.request
        started = self._clock()
        code, outcome, call.status, call.headers = "none", "ok", None, None
        unsafe, maybe_sent = not call.idempotent, True
        resends = _RESENDS.set([0])
        try:
            status, content_type, headers, body = await self._exchange(
                upstream, request, call.timeout(), call.budget)
            code, call.status, call.headers = str(status), status, headers
            if unsafe:
                call.budget.unsafe_answered = status
            return self._interpret(upstream, request, status, content_type, headers, body)
        except Problem as problem:
            outcome = _outcome(problem, code)
            if code != "none":  # for the access log: which upstream answer this came from
                problem.upstream_status = int(code)
            # refused before a byte was sent: the upstream cannot have acted on it
            maybe_sent = not (code == "none" and isinstance(problem, UpstreamUnavailable))
            raise
        except asyncio.CancelledError:
            outcome = "timeout" if call.budget.remaining() <= 0 else "cancelled"
            raise
        finally:
            call.outcome = outcome
            if unsafe and maybe_sent:
                call.budget.unsafe_sent = True
            self._observe(call, code, outcome, started, _RESENDS.get()[0])
            _RESENDS.reset(resends)

    def _observe(self, call: UpstreamCall, code: str, outcome: str, started: float,
                 sends: int) -> None:
        elapsed = max(0.0, self._clock() - started)
        name, operation = call.upstream.name, call.operation
        self._metrics.upstream_answered(name, operation, code, outcome, elapsed)
        if sends > 1:  # aiohttp re-sent an idempotent request on a dropped keep-alive
            self._metrics.upstream_retries.labels(name, operation, "keepalive").inc(sends - 1)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("upstream attempt", extra={
                "request_id": call.request_id, "upstream": name, "operation": operation,
                "method": call.request.method, "url": str(call.request.url.with_query(None)),
                "status": call.status, "outcome": outcome, "attempt": call.attempt,
                "duration_ms": round(elapsed * 1000, 3)})

    def reject_link(self, upstream: UpstreamSpec, operation: str, url: URL) -> UpstreamError:
        self._metrics.upstream_requests.labels(upstream.name, operation, "none", "rejected").inc()
        return UpstreamError(f"{upstream.name} linked to {url.with_query(None)}, outside its "
                             "configured base URL; the link was not followed")

    async def _exchange(self, upstream: UpstreamSpec, request: OutboundRequest, seconds: float,
                        budget: Budget) -> tuple[int, str, Any, bytes]:
        timeout = aiohttp.ClientTimeout(total=seconds,
                                        sock_connect=min(seconds, upstream.connect_timeout))
        try:
            async with self._session.request(request.method, request.url, headers=request.headers,
                                             data=request.data, timeout=timeout,
                                             allow_redirects=False) as response:
                body = await self._read(upstream, response)
                return response.status, response.content_type, response.headers, body
        except asyncio.TimeoutError:
            if seconds < upstream.total_timeout:
                raise budget.exceeded(upstream.name) from None
            raise UpstreamTimeout(f"{upstream.name} did not answer within "
                                  f"{upstream.total_timeout:g} s") from None
        except aiohttp.ClientConnectorError as exc:
            raise UpstreamUnavailable(f"cannot connect to {upstream.name}: "
                                      f"{exc.os_error.strerror or exc}") from None
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError,
                aiohttp.ClientOSError) as exc:
            raise UpstreamError(f"{upstream.name} dropped the connection: "
                                f"{type(exc).__name__}") from None
        except aiohttp.ClientResponseError as exc:
            raise UpstreamError(f"{upstream.name} sent an invalid HTTP answer: {exc.message}") from None

    async def _read(self, upstream: UpstreamSpec, response: aiohttp.ClientResponse) -> bytes:
        chunks, size = [], 0
        async for chunk in response.content.iter_chunked(65536):
            size += len(chunk)
            if size > self._max_body:
                raise MappingError(f"{upstream.name} answered more than {self._max_body} bytes",
                                   stage="decode")
            chunks.append(chunk)
        return b"".join(chunks)

    def _interpret(self, upstream: UpstreamSpec, request: OutboundRequest, status: int,
                   content_type: str, headers: Any, body: bytes) -> Any:
        if 200 <= status < 300:
            data = decode_body(body, content_type, request.format, upstream.xml_lists)
            failure = upstream.failure
            if failure is not None and _truthy(failure.search(data, request.options)):
                raise MappingError(f"{upstream.name} answered {status} but reported a failure: "
                                   f"{_detail(upstream, data, body)}", stage="envelope")
            return data
        try:
            data = decode_body(body, content_type, request.format, upstream.xml_lists)
        except MappingError:
            data = None
        detail = f"{upstream.name} answered {status}: {_detail(upstream, data, body)}"
        for rule in upstream.error_rules:
            if (rule.status in (None, status)) and (
                    rule.when is None or _truthy(rule.when.search({"status": status, "body": data},
                                                                   request.options))):
                return _raise_as(rule.answer, detail, headers)
        return _raise_as(_default_answer(status), detail, headers)


def _default_answer(status: int) -> int:
    if status in (404, 410):
        return 404
    if status in (429, 509):
        return 429
    if status in (503, 504):
        return status
    return 502


def _raise_as(answer: int, detail: str, headers: Any) -> Any:
    if answer == 404:
        raise NotFound(detail)
    if answer == 429:
        raise RateLimited(detail, retry_after=_retry_after(headers))
    if answer == 503:
        raise UpstreamUnavailable(detail)
    if answer == 504:
        raise UpstreamTimeout(detail)
    if answer == 400:
        raise InvalidRequest(detail, field="body")
    raise UpstreamError(detail)


def _retry_after(headers: Any) -> int:
    value = headers.get("Retry-After", "") if headers is not None else ""
    return int(value) if value.isdigit() else 60


def _truthy(value: Any) -> bool:
    return value not in (None, False, "", [], {}, 0)


def _detail(upstream: UpstreamSpec, data: Any, body: bytes) -> str:
    if data is not None and upstream.error_detail is not None:
        try:
            value = upstream.error_detail.search(data)
        except MappingError:
            value = None
        if value not in (None, ""):
            return str(value)[:500]
    text = body.decode("utf-8", "replace").strip()
    return (text[:200] + "…") if len(text) > 200 else (text or "(empty body)")


def _outcome(problem: Problem, code: str) -> str:
    if isinstance(problem, UpstreamTimeout) and code == "none":
        return "timeout"
    if isinstance(problem, MappingError):
        return "envelope_error" if problem.stage == "envelope" else "decode_error"
    if code == "none":
        return "connect_error"
    return "http_error"
