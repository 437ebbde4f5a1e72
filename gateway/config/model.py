"""The loaded configuration: immutable objects compiled once from YAML.

`GatewayConfig` is swapped as a whole (hot reload keeps the last good one); nothing in
it changes after `load_config()` returns, so a request holds one consistent view.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import Any

from yarl import URL

from ..mapping.auth import AuthParts
from ..mapping.expressions import Expression, Template, TemplateTree
from ..mapping.fields import ResourceMapper
from ..paginators import Paginator

__all__ = [
    "BodySpec", "RequestSpec", "StepSpec", "OperationSpec", "ErrorRule", "UpstreamSpec",
    "Route", "Consumer", "CursorSettings", "Limits", "GatewayConfig",
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


@dataclass(frozen=True)
class ErrorRule:
    answer: int
    status: int | None
    when: Expression | None


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


@dataclass(frozen=True)
class Route:
    name: str
    upstream: UpstreamSpec
    operations: frozenset[str]  # canonical operations this route exposes and the mapping has


@dataclass(frozen=True)
class Consumer:
    name: str
    upstreams: frozenset[str] | None  # None: every route


@dataclass(frozen=True)
class CursorSettings:
    secrets: tuple[bytes, ...]  # the first signs, every one verifies (rotation)
    ttl_seconds: int


@dataclass(frozen=True)
class Limits:
    max_body_bytes: int = 1024 * 1024
    max_upstream_body_bytes: int = 16 * 1024 * 1024
    max_upstream_calls: int = 50


@dataclass(frozen=True)
class GatewayConfig:
    source_file: str
    sha256: str
    host: str
    port: int
    log_level: str
    cursor: CursorSettings
    limits: Limits
    consumers: dict[str, Consumer]  # sha256(api key) hex -> consumer
    routes: dict[str, Route]
    secrets: tuple[str, ...] = field(default=())  # upstream credentials, for redaction
