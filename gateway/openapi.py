"""The OpenAPI 3.1 document of the canonical chat API, served at `GET /openapi.json`.

Built from `gateway.canonical` (operations, resource and body schemas, list query
parameters) plus the route table's names, so the document cannot drift from the code.
Only prose lives here; every shape is read from `canonical`.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from typing import Any

from gateway import canonical
from gateway.canonical import OPERATIONS, Operation

__all__ = ["build_openapi"]

Json = dict[str, Any]

_TITLE = "chat-gateway canonical chat API"
_JSON = "application/json"
_PROBLEM = "application/problem+json"
_METRICS = "text/plain; version=0.0.4"
_REQUEST_ID = "X-Request-ID"

# status -> (component name, when it is answered)
_PROBLEMS: dict[int, tuple[str, str]] = {
    400: ("BadRequest", "Bad canonical input: unknown field, wrong type, bad limit or cursor"),
    401: ("Unauthorized", "No or unknown API key"),
    403: ("Forbidden", "The API key may not use this upstream"),
    404: ("NotFound", "Unknown upstream, chat, message or operator, including an id this "
                      "upstream cannot have (`field` names it)"),
    413: ("PayloadTooLarge", "Request body too large"),
    429: ("TooManyRequests", "Rate limited by the gateway or the upstream; see Retry-After"),
    501: ("NotImplemented", "The upstream does not support this operation"),
    502: ("BadGateway", "The upstream failed, or answered something the mapping cannot read"),
    503: ("ServiceUnavailable", "Upstream unavailable, circuit open or gateway draining"),
    504: ("GatewayTimeout", "The upstream did not answer in time"),
}
# Enums a generated client should see as one type each (the `Upstream` enum, the route
# names, is added per document).
_SHARED_ENUMS: dict[str, list[str]] = {
    "Direction": ["inbound", "outbound"],
    "ChatState": ["open", "closed"],
    "MediaType": ["image", "file", "audio", "video"],
    "Operation": list(OPERATIONS),
    "Include": ["raw"],
}
_TAGS = {
    "Chats": "Conversations at an upstream",
    "Messages": "Messages of a chat",
    "Profile": "The account the gateway acts as at an upstream",
    "Upstreams": "What this gateway is configured to reach",
    "System": "Health, readiness, metrics, this document and problem type documentation",
}
_CHAT_ERRORS = (400, 401, 403, 404, 429, 501, 502, 503, 504)
_BODY_ERRORS = (400, 401, 403, 404, 413, 429, 501, 502, 503, 504)

# Parameter descriptions; their schemas come from `canonical`.
_NOTES: dict[str, str] = {
    "upstream": "A route name from the gateway's route table",
    "chat_id": "The chat's id, as the canonical API returns it",
    "message_id": "The message's id, as the canonical API returns it",
    "limit": "Page size, whatever the upstream's own page size",
    "cursor": "The opaque `next_cursor` of the previous page",
    "q": "Free-text search",
    "state": "Only chats in this state",
    "unread": "Only chats with (true) or without (false) unread messages",
    "assignee": "Only chats assigned to this operator id",
    "after": "Only messages newer than this message id (for polling)",
    "include": "`raw` adds the upstream's own record to each resource as `raw`",
    _REQUEST_ID: "Your id for this request; generated if absent",
}


def build_openapi(
    upstreams: Mapping[str, Sequence[str]], *, version: str, server_url: str | None = None
) -> Json:
    """The document for these routes: route name -> canonical operations it supports."""
    support = _support(upstreams)
    doc: Json = {"openapi": "3.1.0", "info": {"title": _TITLE, "version": version}}
    if server_url is not None:
        doc["servers"] = [{"url": server_url}]
    doc["security"] = [{"apiKey": []}]
    doc["tags"] = [{"name": name, "description": note} for name, note in _TAGS.items()]
    doc["paths"] = {**_gateway_paths(), **_chat_paths(support)}
    doc["components"] = _components(sorted(upstreams))
    _share_enums(doc, sorted(upstreams))
    return doc


def _share_enums(doc: Json, routes: list[str]) -> None:
    """Replace every inline copy of a shared enum by a $ref to its one component, so a
    generated client has one `Direction` type rather than one per operation or field."""
    shared = {name: values for name, values in {**_SHARED_ENUMS, "Upstream": routes}.items()
              if values}
    by_values = {frozenset(values): name for name, values in shared.items()}
    schemas = doc["components"]["schemas"]

    def walk(node: Any, inside: str | None) -> Any:
        if isinstance(node, list):
            return [walk(item, inside) for item in node]
        if not isinstance(node, dict):
            return node
        enum = node.get("enum")
        if enum is not None:
            name = by_values.get(frozenset(v for v in enum if v is not None))
            if name is not None and name != inside:
                extra = {k: v for k, v in node.items() if k in ("description", "default")}
                ref = _ref("schemas", name)
                return {"anyOf": [ref, {"type": "null"}], **extra} if None in enum else {
                    **ref, **extra}
        return {key: walk(value, inside) for key, value in node.items()}

    for name, values in shared.items():
        schemas[name] = {"type": "string", "enum": list(values)}
    for name in list(schemas):
        schemas[name] = walk(schemas[name], name)
    doc["components"]["parameters"] = walk(doc["components"]["parameters"], None)


def _support(upstreams: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """Operation name -> the sorted route names that support it; unknown names fail."""
    support: dict[str, list[str]] = {name: [] for name in OPERATIONS}
    for route in sorted(upstreams):
        for name in upstreams[route]:
            if name not in support:
                raise ValueError(f"upstream {route!r}: unknown canonical operation {name!r}")
            if route not in support[name]:
                support[name].append(route)
    return support


def _ref(kind: str, name: str) -> Json:
    return {"$ref": f"#/components/{kind}/{name}"}


def _camel(name: str) -> str:
    return "".join(part.title() for part in name.split("_"))


def _headers(*names: str) -> Json:
    return {name: _ref("headers", name) for name in (_REQUEST_ID, *names)}


def _problems(statuses: Sequence[int]) -> Json:
    return {str(status): _ref("responses", _PROBLEMS[status][0]) for status in statuses}


def _ok(description: str, media_type: str | None = None, schema: Json | None = None) -> Json:
    response: Json = {"description": description, "headers": _headers()}
    if media_type is not None:
        response["content"] = {media_type: {"schema": schema}}
    return response


def _chat_paths(support: dict[str, list[str]]) -> Json:
    paths: Json = {}
    for op in OPERATIONS.values():
        path = "/v1/{upstream}" + op.path
        path_params = [_ref("parameters", name) for name in re.findall(r"\{(\w+)\}", path)]
        item = paths.setdefault(path, {"parameters": path_params})
        item[op.method.lower()] = _chat_operation(op, support[op.name])
    return paths


def _chat_operation(op: Operation, routes: list[str]) -> Json:
    params = [_ref("parameters", _REQUEST_ID)] + [_ref("parameters", q) for q in op.query]
    if op.resource is not None:
        params.append(_ref("parameters", "include"))
    operation: Json = {"operationId": op.name, "summary": op.summary, "tags": [_tag(op)],
                       "description": _support_note(routes), "parameters": params}
    errors: tuple[int, ...] = _CHAT_ERRORS
    if op.name in canonical.BODY_SCHEMAS:
        body = {_JSON: {"schema": _ref("schemas", _camel(op.name))}}
        operation["requestBody"] = {"required": True, "content": body}
        errors = _BODY_ERRORS
    operation["responses"] = {str(op.success_status): _success(op), **_problems(errors)}
    return operation


def _tag(op: Operation) -> str:
    if "/messages" in op.path:
        return "Messages"
    return "Chats" if op.path.startswith("/chats") else "Profile"


def _support_note(routes: list[str]) -> str:
    if not routes:
        return "No configured upstream supports this operation: every upstream answers 501."
    names = ", ".join(f"`{route}`" for route in routes)
    return f"Supported by {names}. Other upstreams answer 501."


def _success(op: Operation) -> Json:
    if op.resource is None:
        return _ok("Done; no content")
    name = op.resource.title() + ("List" if op.is_list else "")
    return _ok(f"The {name}", _JSON, _ref("schemas", name))


def _gateway_paths() -> Json:
    def health() -> Json:
        return _ok("Healthy", _JSON, _ref("schemas", "Health"))

    return {
        "/healthz": {"get": _open("get_healthz", "The process is up", health())},
        "/readyz": {"get": _open("get_readyz", "Config loaded and not draining", health(), 503)},
        "/metrics": {"get": _open("get_metrics", "Prometheus metrics",
                                  _ok("Metrics", _METRICS, {"type": "string"}))},
        "/openapi.json": {"get": _open("get_openapi", "This document",
                                       _ok("OpenAPI 3.1 document", _JSON, {"type": "object"}))},
        "/problems/{problem_type}": {"get": {
            **_open("get_problem_type", "What a problem `type` means and what to do about it",
                    _ok("The problem type's documentation (Markdown)", "text/markdown",
                        {"type": "string"}), 404),
            "parameters": [_ref("parameters", _REQUEST_ID),
                           {"name": "problem_type", "in": "path", "required": True,
                            "description": "The last segment of a problem's `type`",
                            "schema": {"type": "string"}}]}},
        "/v1/upstreams": {"get": {
            "operationId": "list_upstreams", "tags": ["Upstreams"],
            "summary": "The upstreams and which canonical operations each supports",
            "parameters": [_ref("parameters", _REQUEST_ID)],
            "responses": {"200": _ok("The upstreams", _JSON, _ref("schemas", "UpstreamList")),
                          **_problems((401, 429, 503))},
        }},
    }


def _open(operation_id: str, summary: str, ok: Json, *errors: int) -> Json:
    return {"operationId": operation_id, "summary": summary, "tags": ["System"], "security": [],
            "parameters": [_ref("parameters", _REQUEST_ID)],
            "responses": {"200": ok, **_problems(errors)}}


def _components(routes: list[str]) -> Json:
    return {
        "schemas": _schemas(),
        "parameters": _parameters(routes),
        "headers": {
            _REQUEST_ID: {"description": "The request's id, accepted or generated",
                          "schema": {"type": "string"}},
            "Retry-After": {"description": "Seconds to wait before retrying",
                            "schema": {"type": "integer", "minimum": 0}},
        },
        "responses": {name: _problem_response(status, name, note)
                      for status, (name, note) in _PROBLEMS.items()},
        "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer",
                                       "description": "Authorization: Bearer <api key>"}},
    }


def _schemas() -> Json:
    schemas: Json = {name.title(): copy.deepcopy(schema)
                     for name, schema in canonical.RESOURCE_SCHEMAS.items()}
    for op in OPERATIONS.values():
        if op.is_list and op.resource is not None:
            schemas[op.resource.title() + "List"] = _list_schema(op.resource.title())
    operations = {"type": "array", "items": {"type": "string", "enum": list(OPERATIONS)}}
    schemas["UpstreamInfo"] = _object({"name": {"type": "string"}, "operations": operations})
    schemas["UpstreamList"] = _object({"data": {"type": "array",
                                                "items": _ref("schemas", "UpstreamInfo")}})
    for name, schema in canonical.BODY_SCHEMAS.items():
        schemas[_camel(name)] = copy.deepcopy(schema)
    schemas["Problem"] = _problem_schema()
    schemas["Health"] = _object({"status": {"const": "ok"},
                                 "config_sha256": {"type": "string"}}, ["status"])
    return schemas


def _object(properties: Json, required: Sequence[str] | None = None) -> Json:
    return {"type": "object", "additionalProperties": False,
            "required": list(properties if required is None else required),
            "properties": properties}


def _list_schema(item: str) -> Json:
    return _object({"data": {"type": "array", "items": _ref("schemas", item)},
                    "next_cursor": {"type": ["string", "null"]}})


def _problem_schema() -> Json:
    properties: Json = {
        "type": {"type": "string", "format": "uri-reference",
                 "description": "Resolves, against this gateway's URL, to the type's "
                                "documentation: GET /problems/{problem_type}"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "request_id": {"type": "string"},
        "upstream": {"type": "string"},
        "operation": {"type": "string"},
        "field": {"type": "string", "description": "The offending input field (400; 404 for an id "
                                                     "this upstream cannot have)"},
        "errors": {"type": "array", "items": _object({"field": {"type": ["string", "null"]},
                                                       "message": {"type": "string"}})},
    }
    schema = _object(properties, ["type", "title", "status", "detail", "request_id"])
    schema["additionalProperties"] = True  # RFC 9457 allows extension members
    return schema


def _problem_response(status: int, name: str, note: str) -> Json:
    headers = _headers("Retry-After") if status == 429 else _headers()
    return {"description": note, "headers": headers,
            "content": {_PROBLEM: {"schema": _ref("schemas", "Problem")}}}


def _param(name: str, where: str, schema: Json) -> Json:
    return {"name": name, "in": where, "required": where == "path",
            "description": _NOTES.get(name, name), "schema": schema}


def _parameters(routes: list[str]) -> Json:
    params = {"upstream": _param("upstream", "path", {"type": "string"})}
    for name in ("chat_id", "message_id"):  # one schema for every upstream: an id this
        # upstream cannot have is a 404 naming the field, as an unknown id is
        params[name] = _param(name, "path", copy.deepcopy(canonical.ID_SCHEMA))
    if routes:
        params["upstream"]["schema"]["enum"] = routes
    for name, schema in canonical.LIST_QUERY.items():
        params[name] = _param(name, "query", copy.deepcopy(schema))
    params["include"] = _param("include", "query", {"type": "string", "enum": ["raw"]})
    params[_REQUEST_ID] = _param(_REQUEST_ID, "header", {"type": "string"})
    return params
