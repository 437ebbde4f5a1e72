"""Every error the gateway raises, and the problem+json it becomes.

    GatewayError
    ├── ConfigError                     bad routes.yaml / mapping: file, line, path
    │   └── ConfigErrors                    all of a config's errors, one per line
    └── Problem                         answered to the client as application/problem+json
        ├── InvalidRequest        400   a canonical input field is wrong (names the field)
        │   └── InvalidCursor     400   tampered, expired, foreign or mismatched cursor
        ├── Unauthorized          401
        ├── Forbidden             403
        ├── NotFound              404   unknown upstream, chat or message
        ├── IdempotencyConflict   409   same Idempotency-Key still in flight
        ├── PayloadTooLarge       413
        ├── IdempotencyMismatch   422   same Idempotency-Key, different request
        ├── RateLimited           429   carries retry_after (and RateLimit headers)
        ├── NotImplementedByUpstream 501
        ├── UpstreamError         502   upstream error status, unreadable answer, 200-but-failed
        │   └── MappingError      502   an answer the mapping cannot read (decode / map stage)
        ├── UpstreamUnavailable   503   connection refused/reset, draining
        │   ├── CircuitOpen       503   the upstream's breaker is open; carries retry_after
        │   └── Overloaded        503   too many requests in flight here
        └── UpstreamTimeout       504

A `Problem` knows its HTTP status and problem type; the server renders it. Upstream
credentials never enter a detail: details are built from upstream *bodies*, and the
server redacts configured secrets from every detail before it is sent.
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
    "PayloadTooLarge",
    "RateLimited",
    "NotImplementedByUpstream",
    "UpstreamError",
    "MappingError",
    "UpstreamUnavailable",
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
]

# Closed sets, because they are metric labels: the metrics pre-create a series for each.
MappingStage = Literal["decode", "envelope", "map"]
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
    upstream_status: int | None = None  # the upstream's HTTP status, when one answered

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
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

    def __init__(self, detail: str, *, field: str, **extra: Any) -> None:
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


class PayloadTooLarge(Problem):
    status, type_, title = 413, "payload-too-large", "Request body too large"


class RateLimited(Problem):
    status, type_, title = 429, "rate-limited", "Rate limited"

    def __init__(self, detail: str, *, retry_after: int = 1,
                 headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(detail, **extra)
        self.retry_after = max(1, int(retry_after))
        self._headers = headers or {}

    def headers(self) -> dict[str, str]:
        return {**self._headers, "Retry-After": str(self.retry_after)}


class NotImplementedByUpstream(Problem):
    status, type_, title = 501, "not-implemented", "Operation not supported by this upstream"


class UpstreamError(Problem):
    status, type_, title = 502, "upstream-error", "Upstream error"


class MappingError(UpstreamError):
    type_, title = "upstream-unreadable", "Upstream answer could not be read"

    def __init__(self, detail: str, *, stage: MappingStage, **extra: Any) -> None:
        super().__init__(detail, **extra)
        if stage not in MAPPING_STAGES:
            raise ValueError(f"unknown mapping stage {stage!r}")
        self.stage = stage


class UpstreamUnavailable(Problem):
    status, type_, title = 503, "upstream-unavailable", "Upstream unavailable"


class UpstreamTimeout(Problem):
    status, type_, title = 504, "upstream-timeout", "Upstream timed out"


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


class IdempotencyConflict(Problem):
    status, type_, title = 409, "idempotency-key-in-use", "A request with this key is in flight"


class IdempotencyMismatch(Problem):
    status, type_, title = 422, "idempotency-key-reused", "Idempotency-Key reused for another request"
