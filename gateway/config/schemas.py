"""JSON Schemas (draft 2020-12) for `routes.yaml` and `mappings/*.yaml`.

They check shape only; meaning (a JMESPath that does not compile, a route naming an
unknown upstream, a field the canonical resource does not have) is checked when the
config is compiled, with the same file:line:path errors.
"""

from __future__ import annotations

from typing import Any

from ..canonical import OPERATIONS

__all__ = ["ROUTES_SCHEMA", "MAPPING_SCHEMA"]

_STR = {"type": "string"}
_NONEMPTY = {"type": "string", "minLength": 1}
_SECONDS = {"type": "number", "exclusiveMinimum": 0, "maximum": 600}
_FRACTION = {"type": "number", "exclusiveMinimum": 0, "maximum": 1}
_STR_MAP = {"type": "object", "additionalProperties": {"type": ["string", "number", "boolean", "null"]}}


def _obj(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"type": "object", "additionalProperties": False,
            "properties": properties, "required": list(required)}


_RATE_LIMIT = _obj({"requests_per_second": {"type": "number", "exclusiveMinimum": 0},
                    "burst": {"type": "integer", "minimum": 1}}, ("requests_per_second",))

# The resilience settings (gateway/resilience/): each block optional, defaults in
# config/model.py.
_RESILIENCE = _obj({
    "deadline_seconds": _SECONDS,
    "retry": _obj({
        "attempts": {"type": "integer", "minimum": 1, "maximum": 10},
        "backoff_seconds": {"type": "number", "minimum": 0, "maximum": 60},
        "max_backoff_seconds": {"type": "number", "minimum": 0, "maximum": 600},
    }),
    "breaker": _obj({
        "consecutive_failures": {"type": "integer", "minimum": 1},
        "failure_ratio": _FRACTION,
        "window": {"type": "integer", "minimum": 1, "maximum": 10000},
        "min_calls": {"type": "integer", "minimum": 1},
        "cooldown_seconds": _SECONDS,
    }),
    "idempotency": _obj({"ttl_seconds": {"type": "integer", "minimum": 1}}),
    "rate_limit": _RATE_LIMIT,
    "max_in_flight": {"type": "integer", "minimum": 1},
})

_SERVER = _obj({
    "keepalive_timeout_seconds": _SECONDS,
    "body_timeout_seconds": _SECONDS,
    "pre_stop_seconds": {"type": "number", "minimum": 0, "maximum": 600},
    "grace_seconds": _SECONDS,
})

ROUTES_SCHEMA: dict[str, Any] = _obj(
    {
        "listen": _obj({"host": _NONEMPTY,
                        "port": {"type": "integer", "minimum": 0, "maximum": 65535}}),
        "log_level": {"enum": ["DEBUG", "INFO", "WARNING", "ERROR", "debug", "info",
                               "warning", "error"]},
        "cursor": _obj({
            "secrets": {"type": "array", "minItems": 1, "items": _STR},
            "ttl_seconds": {"type": "integer", "minimum": 60},
        }, ("secrets",)),
        "resilience": _RESILIENCE,
        "server": _SERVER,
        "redis": _obj({"url": {"type": "string", "pattern": "^(rediss?://.*)?$"}}),
        "limits": _obj({
            "max_body_bytes": {"type": "integer", "minimum": 1024},
            "max_upstream_body_bytes": {"type": "integer", "minimum": 1024},
            "max_upstream_calls": {"type": "integer", "minimum": 1, "maximum": 200},
        }),
        "consumers": {"type": "array", "items": _obj({
            "name": _NONEMPTY,
            "keys": {"oneOf": [_STR, {"type": "array", "items": _STR}]},
            "upstreams": {"oneOf": [{"const": "*"}, {"type": "array", "items": _NONEMPTY}]},
            "rate_limit": {"oneOf": [{"const": "none"}, _RATE_LIMIT]},
        }, ("name", "keys"))},
        "upstreams": {"type": "object", "minProperties": 1, "additionalProperties": _obj({
            "base_url": {"type": "string", "pattern": "^https?://"},
            "optional": {"type": "boolean"},  # left out when base_url's variable is unset
            "mapping": _NONEMPTY,
            "credentials": _STR_MAP,
            "vars": _STR_MAP,
            "timezone": _NONEMPTY,
            "timeout": _obj({"connect": _SECONDS, "total": _SECONDS}),
        }, ("base_url", "mapping"))},
        "routes": {"type": "array", "minItems": 1, "items": _obj({
            "name": {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]{0,62}$"},
            "upstream": _NONEMPTY,
            "operations": {"oneOf": [{"const": "*"}, {"type": "array", "items": {
                "enum": sorted(OPERATIONS)}}]},
        }, ("name", "upstream"))},
    },
    ("upstreams", "routes", "cursor"),
)

_TEMPLATE_TREE: dict[str, Any] = {
    "type": ["object", "array", "string", "number", "boolean", "null"],
}
_REQUEST = _obj({
    "method": {"enum": ["GET", "POST", "PUT", "PATCH", "DELETE"]},
    "path": {"type": "string", "pattern": "^/"},
    "query": _STR_MAP,
    "headers": _STR_MAP,
    "body": _obj({
        "encoding": {"enum": ["json", "form", "xml"]},
        "root": _NONEMPTY,
        "namespace": _NONEMPTY,
        "fields": _TEMPLATE_TREE,
    }, ("fields",)),
    "format": {"enum": ["json", "xml"]},
    "idempotent": {"type": "boolean"},  # a POST/PATCH the upstream dedupes: may be retried
}, ("method", "path"))

_FIELDS = {"type": "object"}  # checked against the canonical resource when compiled

_OPTION = {"oneOf": [_NONEMPTY, _obj({"name": _NONEMPTY,
                                      "in": {"enum": ["query", "header", "body"]}}, ("name",))]}

_PAGINATION = {
    "type": "object",
    "required": ["type"],
    "properties": {
        "type": {"enum": ["none", "page_number", "next_url", "offset", "cursor", "link_header"]},
        "page_param": _OPTION,
        "size_param": _OPTION,
        "param": _OPTION,
        "token": _NONEMPTY,
        "token_header": _NONEMPTY,
        "page_size": {"type": "integer", "minimum": 1, "maximum": 1000},
        "first_page": {"type": "integer", "minimum": 0},
        "total_pages": _NONEMPTY,
        "next": _NONEMPTY,
        "offset_param": _OPTION,
        "limit_param": _OPTION,
        "max_page_size": {"type": "integer", "minimum": 1, "maximum": 1000},
        "has_more": _NONEMPTY,
        "order": _obj({"by": {"type": "array", "minItems": 1, "items": _obj({
            "field": _NONEMPTY,
            "as": {"enum": ["string", "number", "datetime"]},
        }, ("field",))},
            "direction": {"enum": ["asc", "desc"]}}, ("by",)),
    },
    "additionalProperties": False,
}

_OPERATION = _obj({
    "description": _STR,
    "request": _REQUEST,
    "steps": {"type": "array", "minItems": 1, "items": _obj(
        {"name": {"type": "string", "pattern": "^[a-z_][a-z0-9_]*$"}, "request": _REQUEST},
        ("request",))},
    "response": _obj({
        "items": _NONEMPTY,
        "item": _NONEMPTY,
        "fields": _FIELDS,
    }),
    "pagination": _PAGINATION,
    "filters": {"type": "object", "additionalProperties": {"enum": ["native", "gateway"]}},
    "after": {"enum": ["native", "gateway"]},
    "max_media": {"type": "integer", "minimum": 0, "maximum": 100},
})

MAPPING_SCHEMA: dict[str, Any] = _obj(
    {
        "description": _STR,
        "format": {"enum": ["json", "xml"]},
        "auth": {
            "type": "object",
            "required": ["type"],
            "properties": {
                "type": {"enum": ["none", "bearer", "basic", "header", "headers", "query"]},
                "token": _STR, "username": _STR, "password": _STR,
                "name": _NONEMPTY, "value": _STR, "headers": _STR_MAP,
            },
            "additionalProperties": False,
        },
        "xml": _obj({"lists": {"type": "array", "items": _NONEMPTY}}),
        "errors": _obj({
            "detail": _NONEMPTY,
            "failure": _NONEMPTY,
            "rules": {"type": "array", "items": _obj({
                "status": {"type": "integer"},
                "when": _NONEMPTY,
                "answer": {"enum": [400, 404, 429, 502, 503]},
            }, ("answer",))},
        }),
        "params": {"type": "object", "additionalProperties": _NONEMPTY},
        "operations": {
            "type": "object",
            "propertyNames": {"enum": sorted(OPERATIONS)},
            "additionalProperties": _OPERATION,
        },
    },
    ("auth", "operations"),
)
