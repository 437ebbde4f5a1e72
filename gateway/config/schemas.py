"""JSON Schemas (draft 2020-12) for `routes.yaml` and `mappings/*.yaml`.

They check shape only; meaning (a JMESPath that does not compile, a route naming an
unknown upstream, a template reading a variable the context does not have) is checked
when the config is compiled, with the same file:line:path errors. Parts chosen by
`type:` (paginators, auth styles) and body encodings carry their own keys; `by_type()`
joins them with an `if`/`then` per type, so `page_size` under `type: none` is an
unexpected key. Each operation accepts only the keys that make sense for it (`after`
on list_messages, `max_media` on send_message, `filters` on list_chats, `pagination`
on lists); a GET or DELETE request has no body. `description`s feed the key reference.
"""

from __future__ import annotations

from typing import Any

from ..canonical import BODY_SCHEMAS, INPUT_FIELDS, OPERATIONS
from ..mapping.auth import AUTH_STYLES
from ..mapping.codecs import ENCODER_KEYS
from ..paginators import PAGINATORS

__all__ = ["ROUTES_SCHEMA", "MAPPING_SCHEMA", "by_type"]

_STR = {"type": "string"}
_NONEMPTY = {"type": "string", "minLength": 1}
_JMESPATH = {"type": "string", "minLength": 1}
_SECONDS = {"type": "number", "exclusiveMinimum": 0, "maximum": 600}
_FRACTION = {"type": "number", "exclusiveMinimum": 0, "maximum": 1}
_STR_MAP = {"type": "object",
            "additionalProperties": {"type": ["string", "number", "boolean", "null"]}}


def _obj(properties: dict[str, Any], required: tuple[str, ...] = (), *,
         description: str | None = None) -> dict[str, Any]:
    out = {"type": "object", "additionalProperties": False,
           "properties": properties, "required": list(required)}
    return {**out, "description": description} if description else out


def _d(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {**schema, "description": description}


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


def by_type(registry: dict[str, Any], description: str) -> dict[str, Any]:
    """One schema for parts chosen by `type:`: each class's KEYS, REQUIRED and ONE_OF."""
    branches = []
    for name, cls in registry.items():
        then: dict[str, Any] = {
            "properties": {"type": {}, **cls.KEYS}, "additionalProperties": False,
            "required": list(getattr(cls, "REQUIRED", ()))}
        one_of = getattr(cls, "ONE_OF", ())
        if one_of:
            then["allOf"] = [{"oneOf": [{"required": [key]} for key in one_of],
                              "errorMessage": f"type {name} takes exactly one of "
                                              f"{', '.join(one_of)}"}]
        branches.append({"if": {"properties": {"type": {"const": name}}, "required": ["type"]},
                         "then": then, "description": (cls.__doc__ or "").strip()})
    return {"type": "object", "required": ["type"], "description": description,
            "properties": {"type": {"enum": list(registry)}}, "allOf": branches}


ROUTES_SCHEMA: dict[str, Any] = _obj(
    {
        "listen": _obj({"host": _NONEMPTY,
                        "port": {"type": "integer", "minimum": 0, "maximum": 65535}},
                       description="where the gateway listens (default 127.0.0.1:8080)"),
        "log_level": {"enum": ["DEBUG", "INFO", "WARNING", "ERROR", "debug", "info",
                               "warning", "error"]},
        "cursor": _obj({
            "secrets": _d({"type": "array", "minItems": 1, "items": _STR},
                          "the first signs cursors, every one verifies them (rotation)"),
            "ttl_seconds": _d({"type": "integer", "minimum": 60}, "default 86400"),
        }, ("secrets",), description="signed pagination cursors"),
        "resilience": _RESILIENCE,
        "server": _SERVER,
        "redis": _obj({"url": {"type": "string", "pattern": "^(rediss?://.*)?$"}}),
        "limits": _obj({
            "max_body_bytes": _d({"type": "integer", "minimum": 1024}, "canonical bodies"),
            "max_upstream_body_bytes": {"type": "integer", "minimum": 1024},
            "max_upstream_calls": _d({"type": "integer", "minimum": 1, "maximum": 200},
                                     "per canonical request"),
            "max_retry_after_seconds": _d({"type": "integer", "minimum": 1, "maximum": 86400},
                                          "an upstream's Retry-After is capped at this"),
        }),
        "consumers": {"type": "array", "description": "who may call", "items": _obj({
            "name": _NONEMPTY,
            "keys": _d({"oneOf": [_STR, {"type": "array", "items": _STR}]},
                       "API keys (a comma-separated string or a list)"),
            "upstreams": {"oneOf": [{"const": "*"}, {"type": "array", "items": _NONEMPTY}]},
            "rate_limit": {"oneOf": [{"const": "none"}, _RATE_LIMIT]},
        }, ("name", "keys"))},
        "upstreams": {"type": "object", "minProperties": 1, "description": "by name",
                      "additionalProperties": _obj({
                          "base_url": {"type": "string", "pattern": "^https?://"},
                          "optional": _d({"type": "boolean"}, "left out when base_url's "
                                                              "variable is unset"),
                          "mapping": _d(_NONEMPTY, "the mapping file, relative to routes.yaml"),
                          "credentials": _d(_STR_MAP, "read by the mapping's auth templates"),
                          "vars": _d(_STR_MAP, "read by the mapping's templates as vars.*"),
                          "timezone": _d(_NONEMPTY, "IANA zone of zone-less upstream dates"),
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
    "description": "JSON whose strings are {JMESPath} templates",
}
_BODY = {
    "type": "object", "required": ["fields"],
    "properties": {"encoding": _d({"enum": list(ENCODER_KEYS)},
                                  "default json, or xml when the format is xml"),
                   "fields": _TEMPLATE_TREE,
                   **{k: v for keys in ENCODER_KEYS.values() for k, v in keys.items()}},
    "additionalProperties": False,
    "allOf": [{"if": {"properties": {"encoding": {"const": name}}, "required": ["encoding"]},
               "then": {"properties": {"encoding": {}, "fields": {}, **keys},
                        "additionalProperties": False}}
              for name, keys in ENCODER_KEYS.items()],
}
_REQUEST = {
    **_obj({
        "method": {"enum": ["GET", "POST", "PUT", "PATCH", "DELETE"]},
        "path": _d({"type": "string", "pattern": "^/"}, "template, below base_url"),
        "query": _d(_STR_MAP, "parameter → template; a null value drops it"),
        "headers": _d(_STR_MAP, "header → template; sent as declared"),
        "body": _BODY,
        "format": _d({"enum": ["json", "xml"]}, "the answer's format, for this request"),
        "idempotent": _d({"type": "boolean"}, "a POST/PATCH the upstream dedupes: may be "
                                             "retried"),
    }, ("method", "path")),
    "if": {"properties": {"method": {"enum": ["GET", "DELETE"]}}, "required": ["method"]},
    "then": {"properties": {"body": {"not": {}, "errorMessage": "a GET or DELETE request "
                                                                "has no body"}}},
}
_STEPS = {"type": "array", "minItems": 1, "items": _obj(
    {"name": _d({"type": "string", "pattern": "^[a-z_][a-z0-9_]*$"},
                "its decoded answer is steps.<name> for later templates"),
     "request": {"$ref": "#/$defs/request"}}, ("request",))}
_PAGINATION = by_type(PAGINATORS, "how the upstream pages (list operations)")
_DEFS = {"request": _REQUEST, "steps": _STEPS, "pagination": _PAGINATION}


def _operation(name: str) -> dict[str, Any]:
    """The keys `name` accepts: only those that mean something for it."""
    canonical = OPERATIONS[name]
    response: dict[str, Any] = {}
    if canonical.resource is not None:
        response["fields"] = _d({"type": "object"}, f"the canonical {canonical.resource}'s "
                                                    "fields (checked when compiled)")
        response["items" if canonical.is_list else "item"] = _d(
            _JMESPATH, "JMESPath to the records" if canonical.is_list
            else "JMESPath to the record (default @); null is a 404")
    keys: dict[str, Any] = {
        "description": _STR,
        "request": {"$ref": "#/$defs/request"},
        "steps": {"$ref": "#/$defs/steps"},
        "response": _obj(response),
    }
    if canonical.is_list:
        keys["pagination"] = {"$ref": "#/$defs/pagination"}
    if name == "list_chats":
        keys["filters"] = _d({"type": "object", "additionalProperties": False, "properties": {
            f: {"enum": ["native", "gateway"]} for f in ("q", "state", "unread", "assignee")}},
            "which filters the upstream does (native) or the gateway does")
    if name == "list_messages":
        keys["after"] = _d({"enum": ["native", "gateway"]}, "who applies `after`")
    if name in BODY_SCHEMAS and "media" in BODY_SCHEMAS[name].get("properties", {}):
        keys["max_media"] = _d({"type": "integer", "minimum": 0, "maximum": 100},
                               "media items the upstream takes per message (default 0)")
    return _obj(keys)


MAPPING_SCHEMA: dict[str, Any] = {"$defs": _DEFS, **_obj(
    {
        "description": _STR,
        "format": _d({"enum": ["json", "xml"]}, "the Accept sent and the format expected"),
        "auth": by_type(AUTH_STYLES, "how every request authenticates"),
        "xml": _obj({"lists": _d({"type": "array", "items": _NONEMPTY},
                                 "elements that are always lists")}),
        "errors": _obj({
            "detail": _d(_JMESPATH, "JMESPath over an error body → the problem's detail"),
            "failure": _d(_JMESPATH, "JMESPath over a 2xx body; truthy is a failure"),
            "rules": {"type": "array", "items": _obj({
                "status": {"type": "integer"},
                "when": _d(_JMESPATH, "JMESPath over {status, body}"),
                "answer": {"enum": [400, 404, 409, 422, 429, 502, 503]},
                "field": _d({"enum": sorted(INPUT_FIELDS)}, "the canonical input a 400 blames"),
            }, ("answer",))},
        }),
        "params": _d({"type": "object", "additionalProperties": _NONEMPTY},
                     "regexes canonical ids must match for this upstream"),
        "operations": {
            "type": "object",
            "propertyNames": {"enum": sorted(OPERATIONS)},
            "properties": {name: _operation(name) for name in sorted(OPERATIONS)},
        },
    },
    ("auth", "operations"),
)}
