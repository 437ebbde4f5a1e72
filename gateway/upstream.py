"""Calling an upstream: one HTTP exchange, read, decoded and classified.

`UpstreamClient.call()` is the only place the gateway talks to an upstream. It sends a
built request on the injected `aiohttp.ClientSession`, bounds the time and the size of
the answer, decodes it with the mapping's codecs, turns error statuses and
"200 but failed" envelopes into `Problem`s, and records one metric sample per call
with its outcome, which the problem raised carries (see the table in `errors.py`).

Classification, in `_interpret`: a 2xx answer is decoded (an empty one is unreadable
unless the operation does not read it); a 2xx envelope that the mapping's
`errors.failure` finds failed, or that a rule naming its status matches, is a refusal;
an error status goes through the mapping's `errors.rules`, then the default table.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import math
import random as _random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from yarl import URL

from .config.model import ErrorRule, Resilience, UpstreamSpec
from .errors import (ANSWERS, InvalidRequest, MappingError, Problem, RateLimited,
                     UpstreamDisconnected, UpstreamRefused, UpstreamRejected, UpstreamTimeout,
                     UpstreamTooLarge, UpstreamUnreachable)
from .exchange import Answer
from .mapping.codecs import decode_body
from .metrics import Metrics
from .resilience.breaker import BreakerLayer, Breakers
from .resilience.chain import Next, UpstreamCall
from .resilience.deadline import Budget, DeadlineLayer
from .resilience.retry import RetryLayer, retry_after_seconds

__all__ = ["UpstreamClient", "OutboundRequest", "same_origin", "count_sends",
           "DEFAULT_RETRY_AFTER"]

DEFAULT_RETRY_AFTER = 60  # seconds, when an upstream rate-limits without saying how long

log = logging.getLogger("chat_gateway.upstream")
# How many times aiohttp sent the current attempt's request (see `count_sends`).
_RESENDS: contextvars.ContextVar[list[int]] = contextvars.ContextVar("resends")


async def count_sends(request: aiohttp.ClientRequest, handler: Any) -> aiohttp.ClientResponse:
    """aiohttp client middleware: counts each send of a request. aiohttp re-sends an
    idempotent request once, silently, when a reused keep-alive connection turns out
    closed (RFC 9112 9.3.1); the middleware runs for each send, so the attempt sees 2."""
    sends = _RESENDS.get(None)
    if sends is not None:  # None: a request sent outside an attempt (no one counts it)
        sends[0] += 1
    response: aiohttp.ClientResponse = await handler(request)
    return response


@dataclass
class OutboundRequest:
    method: str
    url: URL
    headers: Mapping[str, str]  # sent as given: aiohttp copies it into its own CIMultiDict
    data: bytes | None = None
    format: str = "json"
    options: Any = None  # jmespath.Options carrying the call's ctx() for failure/error rules
    idempotent: bool = False  # declared by the mapping: may be retried even as POST/PATCH
    reads_answer: bool = True  # False: an empty 2xx body is a success (a 204 operation)
    blame: str | None = None  # the canonical field an upstream 400 blames, if no rule says
    lazy: Any = None  # a 2xx XML answer's record elements left unread (codecs.LazyPaths)


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
                 sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
                 wall_clock: Callable[[], float] = time.time,
                 max_retry_after: int = 300) -> None:
        self._session = session
        self._metrics = metrics
        self._clock = clock
        self._max_body = max_body_bytes
        self._wall_clock = wall_clock  # reads HTTP-date Retry-After values
        self._max_retry_after = max_retry_after
        self._timeouts: dict[tuple[float, float], aiohttp.ClientTimeout] = {}
        self.breakers = breakers or Breakers(metrics, clock)
        self._chain: Next = DeadlineLayer(BreakerLayer(
            RetryLayer(self._attempt, metrics, random=random, sleep=sleep,
                       now=wall_clock), self.breakers))

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
            outcome = problem.outcome
            if code != "none":  # for the access log: which upstream answer this came from
                problem.upstream_status = int(code)
            elif problem.upstream_status is not None:  # answered, then refused (too large)
                code = str(problem.upstream_status)
            # refused before a byte was sent: the upstream cannot have acted on it
            maybe_sent = not isinstance(problem, UpstreamUnreachable)
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

    def reject_link(self, upstream: UpstreamSpec, operation: str, url: URL) -> UpstreamRejected:
        return self.reject(upstream, operation, f"{upstream.name} linked to "
                           f"{url.with_query(None)}, outside its configured base URL; the link "
                           "was not followed")

    def reject(self, upstream: UpstreamSpec, operation: str, detail: str) -> UpstreamRejected:
        """A call not made because the upstream's own answer asked for something unsafe."""
        problem = UpstreamRejected(detail)
        self._metrics.upstream_requests.labels(upstream.name, operation, "none",
                                               problem.outcome).inc()
        return problem

    async def _exchange(self, upstream: UpstreamSpec, request: OutboundRequest, seconds: float,
                        budget: Budget) -> tuple[int, str, Any, bytes]:
        timeout = self._timeout(upstream, seconds)
        try:
            async with self._session.request(request.method, request.url, headers=request.headers,
                                             data=request.data, timeout=timeout,
                                             allow_redirects=False) as response:
                try:
                    body = await self._read(upstream, response)
                except UpstreamTooLarge as problem:
                    problem.upstream_status = response.status
                    raise
                return response.status, response.content_type, response.headers, body
        except asyncio.TimeoutError:
            if seconds < upstream.total_timeout:
                raise budget.exceeded(upstream.name) from None
            raise UpstreamTimeout(f"{upstream.name} did not answer within "
                                  f"{upstream.total_timeout:g} s") from None
        except aiohttp.ClientConnectorError as exc:
            raise UpstreamUnreachable(f"cannot connect to {upstream.name}: "
                                      f"{exc.os_error.strerror or exc}") from None
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError,
                aiohttp.ClientOSError) as exc:
            raise UpstreamDisconnected(f"{upstream.name} dropped the connection: "
                                f"{type(exc).__name__}") from None
        except aiohttp.ClientResponseError as exc:
            raise UpstreamDisconnected(f"{upstream.name} sent an invalid HTTP answer: {exc.message}") from None

    def _timeout(self, upstream: UpstreamSpec, seconds: float) -> aiohttp.ClientTimeout:
        """aiohttp's timeout for one attempt. Most attempts get the upstream's whole
        timeout: that one is made once per configured (timeout, connect timeout)."""
        if seconds != upstream.total_timeout:  # what is left of the deadline: this call's
            return _client_timeout(seconds, upstream.connect_timeout)
        key = (seconds, upstream.connect_timeout)
        timeout = self._timeouts.get(key)
        if timeout is None:
            timeout = self._timeouts[key] = _client_timeout(*key)
        return timeout

    async def _read(self, upstream: UpstreamSpec, response: aiohttp.ClientResponse) -> bytes:
        length = response.content_length
        if length is not None and "Content-Encoding" not in response.headers:
            if length > self._max_body:  # said so up front: nothing to read
                raise self._too_large(upstream)
            return await response.read()  # the parser stops at Content-Length
        # Chunked, or compressed (the cap is on what decompresses): count as it arrives.
        chunks, size = [], 0
        async for chunk in response.content.iter_chunked(65536):
            size += len(chunk)
            if size > self._max_body:
                raise self._too_large(upstream)
            chunks.append(chunk)
        return b"".join(chunks)

    def _too_large(self, upstream: UpstreamSpec) -> UpstreamTooLarge:
        return UpstreamTooLarge(f"{upstream.name} answered more than {self._max_body} bytes")

    def _interpret(self, upstream: UpstreamSpec, request: OutboundRequest, status: int,
                   content_type: str, headers: Any, body: bytes) -> Any:
        if 200 <= status < 300:
            if not body.strip():
                if request.reads_answer:
                    raise MappingError(f"{upstream.name} answered {status} with an empty body",
                                       stage="decode")
                return None
            data = decode_body(body, content_type, request.format, upstream.xml_lists,
                               request.lazy)
            failed = upstream.failure is not None and _truthy(
                upstream.failure.search(data, request.options))
            rule = _rule(upstream.error_rules, status, data, request.options,
                         explicit_only=not failed)
            if rule is None and not failed:
                return data
            detail = (f"{upstream.name} answered {status} but reported a failure: "
                      f"{_detail(upstream, data, body)}")
            if rule is None:
                raise UpstreamRefused(detail)
            return self._raise_as(rule.answer, detail, headers, outcome="envelope_error",
                                  field=rule.field or request.blame)
        try:
            data = decode_body(body, content_type, request.format, upstream.xml_lists)
        except MappingError:
            data = None
        detail = f"{upstream.name} answered {status}: {_detail(upstream, data, body)}"
        rule = _rule(upstream.error_rules, status, data, request.options, explicit_only=False)
        answer = _default_answer(status) if rule is None else rule.answer
        return self._raise_as(answer, detail, headers, outcome="http_error",
                              field=rule.field if rule and rule.field else request.blame)

    def _raise_as(self, answer: int, detail: str, headers: Any, *, outcome: str,
                  field: str | None) -> Any:
        problem = ANSWERS[answer]
        if problem is RateLimited:
            raise RateLimited(detail, outcome=outcome, retry_after=_retry_after(
                headers, self._wall_clock(), self._max_retry_after))
        if problem is InvalidRequest:
            raise InvalidRequest(detail, field=field, outcome=outcome)
        if answer == 502 and outcome == "envelope_error":
            raise UpstreamRefused(detail)
        raise problem(detail, outcome=outcome)


def _client_timeout(seconds: float, connect: float) -> aiohttp.ClientTimeout:
    return aiohttp.ClientTimeout(total=seconds, sock_connect=min(seconds, connect))


def _rule(rules: tuple[ErrorRule, ...], status: int, data: Any, options: Any, *,
          explicit_only: bool) -> ErrorRule | None:
    """The first rule for this answer. A 2xx answer that `errors.failure` does not find
    failed is matched only by rules naming its status explicitly."""
    for rule in rules:
        if rule.status is None and explicit_only:
            continue
        if rule.status in (None, status) and (rule.when is None or _truthy(
                rule.when.search({"status": status, "body": data}, options))):
            return rule
    return None


def _default_answer(status: int) -> int:
    if status in (404, 410):
        return 404
    if status in (429, 509):
        return 429
    if status in (503, 504):
        return status
    return 502


def _retry_after(headers: Any, now: float, cap: int) -> int:
    """Seconds from a Retry-After of delta-seconds or an HTTP-date, 1..cap."""
    seconds = retry_after_seconds(headers, now)
    return min(max(1, math.ceil(seconds)), cap) if seconds is not None else DEFAULT_RETRY_AFTER


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
