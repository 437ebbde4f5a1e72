"""Every error the gateway raises, and the problem+json and metric outcome it becomes.

    GatewayError
    ├── ConfigError                         bad routes.yaml / mapping: file, line, path
    │   └── ConfigErrors                    all of a config's errors, one per line
    └── Problem                             answered as application/problem+json
        ├── InvalidRequest            400   a canonical input field is wrong (names the field)
        │   └── InvalidCursor         400   tampered, expired, foreign or mismatched cursor
        ├── Unauthorized              401
        ├── Forbidden                 403
        ├── NotFound                  404   unknown upstream, chat or message
        ├── RequestTimeout            408   the body did not arrive within body_timeout_seconds
        ├── Conflict                  409   the upstream refused: state conflict
        ├── IdempotencyConflict       409   same Idempotency-Key still in flight
        ├── PayloadTooLarge           413
        ├── Unprocessable             422   the upstream refused the request's content
        ├── IdempotencyMismatch       422   same Idempotency-Key, different request
        ├── RateLimited               429   carries retry_after (and RateLimit headers)
        ├── ClientClosedRequest       499   the client went away first (never sent; logs, metrics)
        ├── NotImplementedByUpstream  501
        ├── UpstreamError             502   the upstream answered an error status
        │   ├── UpstreamRefused       502   "200 but failed": a 2xx envelope reporting a failure
        │   ├── UpstreamTooLarge      502   the answer is over limits.max_upstream_body_bytes
        │   ├── UpstreamDisconnected  502   the connection dropped, or the answer was not HTTP
        │   ├── UpstreamRejected      502   a link or value from the upstream is unsafe to follow
        │   └── MappingError          502   an answer the mapping cannot read (decode / map stage)
        ├── UpstreamUnavailable       503   the upstream answered 503; the gateway is draining
        │   ├── UpstreamUnreachable   503   no connection could be made
        │   ├── CircuitOpen           503   the upstream's breaker is open; carries retry_after
        │   └── Overloaded            503   too many requests in flight here
        └── UpstreamTimeout           504   the upstream or the request's deadline ran out
                                            (or the upstream answered 504)

One table, read from the classes: each carries its HTTP `status`, problem `type_` and
`outcome`, the label of `chat_gateway_upstream_requests_total` when it ends an upstream
call. An upstream's own error status mapped onto a problem (404 → NotFound, a rule's
answer) is outcome `http_error` whatever the class; a 2xx envelope mapped by a rule is
`envelope_error` (`Problem(outcome=…)` says so where the answer is classified).

    outcome         raised as
    ok              (no problem)
    http_error      UpstreamError and every answer mapped from an upstream error status
    envelope_error  UpstreamRefused, and rules matching a 2xx envelope
    too_large       UpstreamTooLarge
    decode_error    MappingError (stage decode)
    connect_error   UpstreamUnreachable, UpstreamDisconnected
    timeout         UpstreamTimeout raised by the gateway's own clock (or deadline)
    rejected        UpstreamRejected (nothing was sent)
    cancelled       (no problem: the canonical request was cancelled mid-call)

Upstream credentials never enter a detail: details are built from upstream *bodies*, and
the server redacts configured secrets, in their common encodings, from every detail.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

__all__ = [
    "GatewayError",
    "ConfigError",
    "ConfigErrors",
    "Problem",
    "InvalidRequest",
    "InvalidCursor",
    "Unauthorized",
    "Forbidden",
    "NotFound",
    "Conflict",
    "PayloadTooLarge",
    "Unprocessable",
    "RateLimited",
    "ClientClosedRequest",
    "NotImplementedByUpstream",
    "UpstreamError",
    "UpstreamRefused",
    "UpstreamTooLarge",
    "UpstreamDisconnected",
    "UpstreamRejected",
    "MappingError",
    "UpstreamUnavailable",
    "UpstreamUnreachable",
    "UpstreamTimeout",
    "InternalError",
    "MappingStage",
    "MAPPING_STAGES",
    "CursorReason",
    "CURSOR_REASONS",
    "CircuitOpen",
    "Overloaded",
    "IdempotencyConflict",
    "IdempotencyMismatch",
    "ANSWERS",
    "RequestTimeout",
]

# Closed sets, because they are metric labels: the metrics pre-create a series for each.
MappingStage = Literal["decode", "map"]  # a refused envelope is UpstreamRefused, not here
MAPPING_STAGES: tuple[MappingStage, ...] = get_args(MappingStage)
CursorReason = Literal["malformed", "unknown_key", "bad_signature", "expired", "mismatch"]
CURSOR_REASONS: tuple[CursorReason, ...] = get_args(CursorReason)


class GatewayError(Exception):
    """Base of every error the gateway raises on purpose."""


class ConfigError(GatewayError):
    """A configuration file is invalid. `str()` reads `file:line path: message`."""

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 path: str = "") -> None:
        self.message = message
        self.file = file
        self.line = line
        self.path = path
        where = file or "<config>"
        if line is not None:
            where = f"{where}:{line}"
        super().__init__(f"{where} {path}: {message}" if path else f"{where}: {message}")


class ConfigErrors(ConfigError):
    """Every error found in one pass over a config; `str()` is one `file:line path:
    message` per line. Behaves as its first error for code that reads one."""

    def __init__(self, errors: list[ConfigError]) -> None:
        first = errors[0]
        super().__init__(first.message, file=first.file, line=first.line, path=first.path)
        self.errors = errors
        self.args = ("\n".join(str(e) for e in errors),)


class Problem(GatewayError):
    status = 500
    type_ = "internal"
    title = "Internal error"
    outcome = "http_error"
    upstream_status: int | None = None  # the upstream's HTTP status, when one answered

    def __init__(self, detail: str, *, outcome: str | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        if outcome is not None:
            self.outcome = outcome
        self.extra = {k: v for k, v in extra.items() if v is not None}

    def body(self) -> dict[str, Any]:
        return {"type": f"/problems/{self.type_}", "title": self.title,
                "status": self.status, "detail": self.detail, **self.extra}

    def headers(self) -> dict[str, str]:
        return {}


class InternalError(Problem):
    pass


class InvalidRequest(Problem):
    status, type_, title = 400, "invalid-request", "Invalid request"

    def __init__(self, detail: str, *, field: str | None, **extra: Any) -> None:
        super().__init__(detail, field=field, **extra)
        self.field = field


class InvalidCursor(InvalidRequest):
    type_, title = "invalid-cursor", "Invalid cursor"

    def __init__(self, detail: str, *, reason: CursorReason) -> None:
        super().__init__(detail, field="cursor")
        if reason not in CURSOR_REASONS:
            raise ValueError(f"unknown cursor rejection reason {reason!r}")
        self.reason = reason


class Unauthorized(Problem):
    status, type_, title = 401, "unauthorized", "Missing or unknown API key"

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": 'Bearer realm="chat-gateway"'}


class Forbidden(Problem):
    status, type_, title = 403, "forbidden", "API key not allowed this upstream"


class NotFound(Problem):
    status, type_, title = 404, "not-found", "Not found"


class Conflict(Problem):
    status, type_, title = 409, "conflict", "Conflict with the upstream's state"


class PayloadTooLarge(Problem):
    status, type_, title = 413, "payload-too-large", "Request body too large"


class Unprocessable(Problem):
    status, type_, title = 422, "unprocessable", "The upstream cannot process this request"


class RateLimited(Problem):
    status, type_, title = 429, "rate-limited", "Rate limited"

    def __init__(self, detail: str, *, retry_after: int = 1,
                 headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(detail, **extra)
        self.retry_after = max(1, int(retry_after))
        self._headers = headers or {}

    def headers(self) -> dict[str, str]:
        return {**self._headers, "Retry-After": str(self.retry_after)}


class ClientClosedRequest(Problem):
    """The client closed the connection before the gateway answered (nginx's 499).
    Nobody reads the answer: the status exists for the access log and the metrics."""

    status, type_, title = 499, "client-closed-request", "Client closed the request"


class NotImplementedByUpstream(Problem):
    status, type_, title = 501, "not-implemented", "Operation not supported by this upstream"


class UpstreamError(Problem):
    status, type_, title = 502, "upstream-error", "Upstream error"


class UpstreamRefused(UpstreamError):
    type_, title, outcome = "upstream-refused", "Upstream refused the call", "envelope_error"


class UpstreamTooLarge(UpstreamError):
    type_, title, outcome = "upstream-too-large", "Upstream answer too large", "too_large"


class UpstreamDisconnected(UpstreamError):
    outcome = "connect_error"


class UpstreamRejected(UpstreamError):
    type_, title, outcome = "upstream-rejected", "Upstream answer unsafe to follow", "rejected"


class MappingError(UpstreamError):
    type_, title, outcome = "upstream-unreadable", "Upstream answer could not be read", "decode_error"

    def __init__(self, detail: str, *, stage: MappingStage, **extra: Any) -> None:
        super().__init__(detail, **extra)
        if stage not in MAPPING_STAGES:
            raise ValueError(f"unknown mapping stage {stage!r}")
        self.stage = stage


class UpstreamUnavailable(Problem):
    status, type_, title = 503, "upstream-unavailable", "Upstream unavailable"


class UpstreamUnreachable(UpstreamUnavailable):
    outcome = "connect_error"


class UpstreamTimeout(Problem):
    status, type_, title, outcome = 504, "upstream-timeout", "Upstream timed out", "timeout"


class CircuitOpen(UpstreamUnavailable):
    type_, title = "circuit-open", "Upstream circuit open"

    def __init__(self, detail: str, *, retry_after: float, **extra: Any) -> None:
        super().__init__(detail, **extra)
        self.retry_after = max(1, int(retry_after + 0.999))

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class Overloaded(UpstreamUnavailable):
    type_, title = "overloaded", "Gateway overloaded"

    def headers(self) -> dict[str, str]:
        return {"Retry-After": "1"}


class RequestTimeout(Problem):
    status, type_, title = 408, "request-timeout", "Request body too slow"


class IdempotencyConflict(Problem):
    status, type_, title = 409, "idempotency-key-in-use", "A request with this key is in flight"


class IdempotencyMismatch(Problem):
    status, type_, title = 422, "idempotency-key-reused", "Idempotency-Key reused for another request"


# What an upstream's answer may become: the default mapping of error statuses and the
# `answer` of a mapping's `errors.rules` (400 also names the field the rule blames).
ANSWERS: dict[int, type[Problem]] = {
    400: InvalidRequest, 404: NotFound, 409: Conflict, 422: Unprocessable,
    429: RateLimited, 502: UpstreamError, 503: UpstreamUnavailable, 504: UpstreamTimeout,
}
