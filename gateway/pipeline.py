"""The canonical call pipeline, read top to bottom in `handle()`:

    authenticate → route → operation → read input (path ids, query, body, cursor)
    → execute (build → call → decode → map → paginate, in operations.py) → render

Every stage raises a `Problem` on bad input or a failed upstream; the server's
problem middleware renders it. Nothing here knows any upstream.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from aiohttp import web
from jsonschema import Draft202012Validator

from .canonical import (BODY_SCHEMAS, DEFAULT_LIMIT, LIST_QUERY, MAX_ID, OPERATIONS, SAFE_TEXT,
                        UNICODE_TEXT, Operation)
from .config.model import Consumer, GatewayConfig, OperationSpec, Route
from .cursors import Binding
from .errors import (Forbidden, InvalidCursor, InvalidRequest, NotFound,
                     NotImplementedByUpstream, PayloadTooLarge, Unauthorized)
from .jsontext import dumps_bytes
from .operations import Call, ListResult, execute, is_dot_segment
from .resilience.admission import read_body
from .state import (BUDGET, CONSUMER, OPERATION, REQUEST_ID, ROUTE, STATE, UPSTREAM_CALLS,
                    GatewayState)

__all__ = ["handle", "dumps"]



def _unicode_only(schema: Any) -> Any:
    """The document's schema, checking UNICODE_TEXT where it states SAFE_TEXT."""
    if isinstance(schema, dict):
        return {k: UNICODE_TEXT if k == "pattern" and v == SAFE_TEXT else _unicode_only(v)
                for k, v in schema.items()}
    if isinstance(schema, list):
        return [_unicode_only(item) for item in schema]
    return schema


_BODY_VALIDATORS = {name: Draft202012Validator(_unicode_only(schema))
                    for name, schema in BODY_SCHEMAS.items()}
_SAFE_TEXT = re.compile(UNICODE_TEXT)
_ID_PARAMS = ("after", "assignee")  # query parameters that are ids, checked like path ids


def dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


async def handle(request: web.Request) -> web.StreamResponse:
    state: GatewayState = request.app[STATE].pinned()  # one config for the whole request
    config = state.config
    canonical = OPERATIONS[request.match_info.route.name]  # type: ignore[index]
    request[OPERATION] = canonical.name
    consumer = authenticate(request, config)
    route = resolve_route(request, config, consumer)
    operation = resolve_operation(route, canonical)
    call = await read_input(request, state, route, canonical, operation)
    call.policy = config.resilience
    call.budget = request[BUDGET] = state.client.budget(config.resilience.deadline_for(route.upstream))
    try:
        async with call.budget.bound(route.upstream.name):
            result = await execute(state.client, call)
    finally:
        request[UPSTREAM_CALLS] = call.upstream_calls
    return render(state, call, canonical, result)


def authenticate(request: web.Request, config: GatewayConfig) -> Consumer:
    """The consumer the request's API key names. Admission and the pipeline both ask;
    the answer is kept on the request for the config it was found in."""
    known = request.get(_AUTHENTICATED)
    if known is not None and known[0] is config:
        consumer: Consumer = known[1]
        return consumer
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise Unauthorized("send the API key as `Authorization: Bearer <key>`")
    found = config.consumers.get(hashlib.sha256(key.strip().encode()).hexdigest())
    if found is None:
        raise Unauthorized("unknown API key")
    request[CONSUMER] = found.name
    request[_AUTHENTICATED] = (config, found)
    return found


_AUTHENTICATED = web.RequestKey("authenticated", tuple)  # (config, consumer)


def resolve_route(request: web.Request, config: GatewayConfig, consumer: Consumer) -> Route:
    name = request.match_info["upstream"]
    route = config.routes.get(name)
    if route is None:
        raise NotFound(f"no upstream named {name!r}; see GET /v1/upstreams")
    request[ROUTE] = route.name
    if consumer.upstreams is not None and name not in consumer.upstreams:
        raise Forbidden(f"this API key may not use upstream {name!r}", upstream=name)
    return route


def resolve_operation(route: Route, canonical: Operation) -> OperationSpec:
    if canonical.name not in route.operations:
        raise NotImplementedByUpstream(
            f"upstream {route.name!r} does not support {canonical.name}",
            upstream=route.name, operation=canonical.name)
    return route.upstream.operations[canonical.name]


async def read_input(request: web.Request, state: GatewayState, route: Route,
                     canonical: Operation, operation: OperationSpec) -> Call:
    call = Call(route=route, operation=operation, request_id=request[REQUEST_ID],
                max_pages=state.config.limits.max_upstream_calls)
    for name in ("chat_id", "message_id"):
        if name in request.match_info:
            setattr(call, name, _path_id(route, name, request.match_info[name]))
    query = _query(request, canonical)
    call.include_raw = query.pop("include", None) == "raw"
    call.limit = query.pop("limit", DEFAULT_LIMIT)
    cursor = query.pop("cursor", None)
    for name in ("q", "state", "unread", "assignee"):
        if name in query and name not in operation.filters:
            raise InvalidRequest(f"upstream {route.name!r} cannot filter chats by {name}",
                                 field=name)
    for name in _ID_PARAMS:
        if name in query:
            _check_id(route, name, query[name])
    call.query = query
    if cursor is not None:
        try:
            call.position = state.cursors.decode(cursor, _binding(call, canonical))
        except InvalidCursor as exc:
            state.metrics.cursor_rejections.labels(exc.reason).inc()
            raise
    if canonical.name in BODY_SCHEMAS:
        call.body = await _body(request, canonical.name)
        if len(call.body.get("media", ())) > operation.max_media:
            raise InvalidRequest(f"upstream {route.name!r} takes at most {operation.max_media} "
                                 "media item(s) per message", field="media")
        if "operator_id" in call.body:
            _check_id(route, "operator_id", call.body["operator_id"])
    return call


def render(state: GatewayState, call: Call, canonical: Operation,
           result: dict[str, Any] | ListResult | None) -> web.StreamResponse:
    if isinstance(result, ListResult):
        cursor = None
        if result.next_position is not None:
            cursor = state.cursors.encode(_binding(call, canonical), result.next_position)
        return _json({"data": result.items, "next_cursor": cursor}, 200, call.include_raw)
    if result is None:
        return web.Response(status=canonical.success_status)
    return _json(result, canonical.success_status, call.include_raw)


def _json(data: Any, status: int, raw: bool) -> web.Response:
    """A canonical answer (raw upstream records, which may hold floats, written exactly)."""
    return web.Response(body=dumps_bytes(data, exact=raw), status=status,
                        content_type="application/json", charset="utf-8")


def _binding(call: Call, canonical: Operation) -> Binding:
    """What a cursor is valid for. The paging style is in it so a reload that changes
    an operation's paging refuses old cursors instead of misreading their positions."""
    return Binding(call.route.name, canonical.name, call.chat_id,
                   tuple(sorted((k, str(v)) for k, v in call.query.items())),
                   type(call.operation.paginator).__name__)


def _path_id(route: Route, name: str, value: str) -> str:
    _check_id(route, name, value)
    return value


def _check_id(route: Route, name: str, value: str) -> None:
    """An id that is too long or unsafe text is bad input (400: the document states both).
    An id this upstream cannot have — a path's `.`/`..`, or one its mapping's `params`
    pattern refuses — names no chat, message or operator there: 404 naming the field,
    like any unknown id, so every id the document allows is accepted as an id. Both are
    refused before any upstream call."""
    if len(value) > MAX_ID:
        raise InvalidRequest(f"{name} is longer than {MAX_ID} characters", field=name)
    _check_text(name, value)
    if is_dot_segment(value):
        raise NotFound(f"no {name} {value!r} at upstream {route.name!r}: ids cannot be . or ..",
                       field=name)
    pattern = route.upstream.params.get(name)
    if pattern is not None and not pattern.fullmatch(value):
        raise NotFound(f"no {name} {value!r} at upstream {route.name!r}: not an id it can "
                       "have", field=name)


def _check_text(name: str, value: str) -> None:
    if not _SAFE_TEXT.match(value):
        raise InvalidRequest(f"{name} contains a control character or a lone surrogate, "
                             "which no upstream can carry", field=name)


def _query(request: web.Request, canonical: Operation) -> dict[str, Any]:
    allowed = set(canonical.query)
    if canonical.resource is not None:
        allowed.add("include")
    out: dict[str, Any] = {}
    for name in request.query:
        if name not in allowed:
            raise InvalidRequest(f"unknown query parameter {name!r} for {canonical.name}; "
                                 f"allowed: {sorted(allowed)}", field=name)
        values = request.query.getall(name)
        if len(values) > 1:
            raise InvalidRequest(f"query parameter {name!r} given more than once", field=name)
        out[name] = _query_value(name, values[0])
    return out


def _query_value(name: str, text: str) -> Any:
    if name == "cursor":
        return text  # checked as a cursor, with its own problem type
    if name == "include":
        if text != "raw":
            raise InvalidRequest("include takes the value raw", field=name)
        return text
    schema = LIST_QUERY[name]
    value: Any = text
    if schema["type"] == "integer":  # ASCII digits only: int() also reads '٥' and '²' fails
        if (not re.fullmatch(r"[0-9]{1,6}", text)
                or not schema["minimum"] <= int(text) <= schema["maximum"]):
            raise InvalidRequest(f"{name} must be an integer from {schema['minimum']} to "
                                 f"{schema['maximum']}", field=name)
        return int(text)
    if schema["type"] == "boolean":
        if text not in ("true", "false"):
            raise InvalidRequest(f"{name} must be true or false", field=name)
        return text == "true"
    if "enum" in schema and text not in schema["enum"]:
        raise InvalidRequest(f"{name} must be one of {schema['enum']}", field=name)
    if not schema.get("minLength", 0) <= len(text) <= schema.get("maxLength", 10**6):
        raise InvalidRequest(f"{name} must be 1 to {schema.get('maxLength')} characters",
                             field=name)
    _check_text(name, text)
    return value


async def _body(request: web.Request, operation: str) -> dict[str, Any]:
    if request.content_type != "application/json":
        raise InvalidRequest("the body must be JSON (Content-Type: application/json)",
                             field="body")
    try:
        raw = await read_body(request, request.app[STATE].config.server.body_timeout_seconds)
    except web.HTTPRequestEntityTooLarge:
        raise PayloadTooLarge(f"the body is over {request.app[STATE].config.limits.max_body_bytes}"
                              " bytes") from None
    try:
        body: dict[str, Any] = json.loads(raw)
        errors = sorted(_BODY_VALIDATORS[operation].iter_errors(body),
                        key=lambda e: list(e.absolute_path))
    except RecursionError:
        raise InvalidRequest("the body nests too deeply", field="body") from None
    except ValueError as exc:
        raise InvalidRequest(f"the body is not valid JSON: {exc}", field="body") from None
    if errors:
        field, message = _explain(errors[0])
        raise InvalidRequest(message, field=field,
                             errors=[{"field": field, "message": message}])
    return body


def _explain(error: Any) -> tuple[str, str]:
    """The field a schema error blames and a message that never repeats the input (which
    may be huge, deep, or hold characters that are the reason it was refused)."""
    path = [str(p) for p in error.absolute_path]
    field = ".".join(path) or "body"
    kind, expected = error.validator, error.validator_value
    if kind == "additionalProperties":
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        field = ".".join([*path, extra[0]])
        return field, f"unknown field {field[:100]!r}"
    if kind == "required":
        missing = [name for name in expected if name not in error.instance][0]
        field = ".".join([*path, missing])
        return field, f"{field} is required"
    messages = {
        "type": f"{field} must be of type {expected}",
        "minLength": f"{field} must be at least {expected} character(s) long",
        "maxLength": f"{field} must be at most {expected} characters long",
        "maxItems": f"{field} takes at most {expected} item(s)",
        "enum": f"{field} must be one of {expected}",
        "const": f"{field} must be {json.dumps(expected)}",
        "pattern": f"{field} contains a control character or a lone surrogate, which no "
                   "upstream can carry",
    }
    return field, messages.get(kind, f"{field} is not valid ({kind})")
