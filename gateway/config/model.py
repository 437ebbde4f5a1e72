"""The loaded configuration: immutable objects compiled once from YAML.

`GatewayConfig` is swapped as a whole (hot reload keeps the last good one); nothing in
it changes after `load_config()` returns, so a request holds one consistent view.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import tzinfo
from functools import cached_property
from typing import Any

from yarl import URL

from ..mapping.auth import AuthParts
from ..mapping.expressions import Expression, Template, TemplateTree
from ..mapping.fields import ResourceMapper
from ..paginators import Paginator

__all__ = [
    "BodySpec", "RequestSpec", "StepSpec", "OperationSpec", "ErrorRule", "UpstreamSpec",
    "Route", "Consumer", "CursorSettings", "Limits", "GatewayConfig", "RetrySettings",
    "BreakerSettings", "RateLimit", "Resilience", "ServerSettings",
]


@dataclass(frozen=True)
class BodySpec:
    encoding: str
    fields: TemplateTree
    root: str | None = None
    namespace: str | None = None


@dataclass(frozen=True)
class RequestSpec:
    method: str
    path: Template
    query: dict[str, Template]
    headers: dict[str, Template]
    body: BodySpec | None
    format: str  # the answer's expected format: json | xml
    idempotent: bool = False  # declared safe to send twice (retried even as POST/PATCH)


@dataclass(frozen=True)
class StepSpec:
    name: str | None
    request: RequestSpec


@dataclass(frozen=True)
class OperationSpec:
    name: str
    steps: tuple[StepSpec, ...]
    mapper: ResourceMapper | None  # None: the canonical answer is 204
    items: Expression | None  # list operations: where the records are
    item: Expression  # single-resource operations: where the record is
    paginator: Paginator | None
    filters: dict[str, str]  # canonical filter -> native | gateway
    after: str  # native | gateway
    max_media: int = 0  # send_message: media items the upstream takes; more is a 400
    lazy_items: Any = None  # a `LazyItems`: its XML records are read when used


@dataclass(frozen=True)
class ErrorRule:
    answer: int
    status: int | None
    when: Expression | None
    field: str | None = None  # the canonical input a 400 answer blames


@dataclass(frozen=True)
class UpstreamSpec:
    name: str
    base_url: URL
    mapping_file: str
    zone: tzinfo
    connect_timeout: float
    total_timeout: float
    auth: AuthParts
    vars: dict[str, Any]
    xml_lists: frozenset[str]
    error_detail: Expression | None
    failure: Expression | None
    error_rules: tuple[ErrorRule, ...]
    params: dict[str, re.Pattern[str]]
    operations: dict[str, OperationSpec]

    @cached_property
    def base_text(self) -> str:
        """`base_url` as text, which every request path is appended to."""
        return str(self.base_url)


@dataclass(frozen=True)
class Route:
    name: str
    upstream: UpstreamSpec
    operations: frozenset[str]  # canonical operations this route exposes and the mapping has


@dataclass(frozen=True)
class RateLimit:
    """A token bucket: `burst` tokens, refilled at `requests_per_second`."""

    requests_per_second: float
    burst: int


@dataclass(frozen=True)
class Consumer:
    name: str
    upstreams: frozenset[str] | None  # None: every route
    rate_limit: RateLimit | None = None  # None: unlimited


@dataclass(frozen=True)
class CursorSettings:
    secrets: tuple[bytes, ...]  # the first signs, every one verifies (rotation)
    ttl_seconds: int


@dataclass(frozen=True)
class Limits:
    max_body_bytes: int = 1024 * 1024
    max_upstream_body_bytes: int = 16 * 1024 * 1024
    max_upstream_calls: int = 50
    max_retry_after_seconds: int = 300  # an upstream's Retry-After is capped at this


@dataclass(frozen=True)
class RetrySettings:
    attempts: int = 3  # in all, the first included
    backoff_seconds: float = 0.05  # the first retry waits up to this (full jitter), doubling
    max_backoff_seconds: float = 1.0


@dataclass(frozen=True)
class BreakerSettings:
    consecutive_failures: int = 5
    failure_ratio: float = 0.5  # over the last `window` calls, once `min_calls` were made
    window: int = 20
    min_calls: int = 10
    cooldown_seconds: float = 10.0  # open this long, then one probe (half-open)


@dataclass(frozen=True)
class Resilience:
    deadline_seconds: float | None = None  # None: the upstream's total timeout + 1 s
    retry: RetrySettings = RetrySettings()
    breaker: BreakerSettings = BreakerSettings()
    idempotency_ttl_seconds: int = 86400
    max_in_flight: int = 1024
    redis_url: str | None = None  # None: every store is in this process

    def deadline_for(self, upstream: UpstreamSpec) -> float:
        return self.deadline_seconds or upstream.total_timeout + 1.0


@dataclass(frozen=True)
class ServerSettings:
    keepalive_timeout_seconds: float = 15.0  # idle keep-alive, and a request's headers
    body_timeout_seconds: float = 10.0  # to read a canonical request's body
    pre_stop_seconds: float = 2.0  # on SIGTERM: /readyz 503 while still serving
    grace_seconds: float = 10.0  # then in-flight requests get this long


@dataclass(frozen=True)
class GatewayConfig:
    sha256: str
    host: str
    port: int
    log_level: str
    cursor: CursorSettings
    limits: Limits
    consumers: dict[str, Consumer]  # sha256(api key) hex -> consumer
    routes: dict[str, Route]
    secrets: tuple[str, ...] = field(default=())  # credentials and API keys, for redaction
    resilience: Resilience = Resilience()
    server: ServerSettings = ServerSettings()
    disabled: dict[str, str] = field(default_factory=dict)  # optional upstream -> unset var
