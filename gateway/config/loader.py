"""Load `routes.yaml` and the mappings it names into a `GatewayConfig`.

Everything is checked here, once: the schema of each file, every JMESPath and template,
every canonical field name, every route's upstream, time zones and credentials. The
first problem found raises `ConfigError` reading `file:line path: message`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jsonschema import Draft202012Validator
from yarl import URL

from ..canonical import OPERATIONS
from ..mapping.auth import build_auth
from ..mapping.expressions import Expression, ExpressionError, Template, TemplateTree
from ..mapping.fields import ResourceMapper
from ..paginators import build_paginator
from .model import (BodySpec, BreakerSettings, Consumer, CursorSettings, ErrorRule,
                    GatewayConfig, Limits, OperationSpec, RateLimit, RequestSpec, Resilience,
                    RetrySettings, Route, ServerSettings, StepSpec, UpstreamSpec)
from .schemas import MAPPING_SCHEMA, ROUTES_SCHEMA
from .optional import drop_disabled_upstreams
from .source import Source, load_yaml

__all__ = ["load_config", "validate"]

_ROUTES_VALIDATOR = Draft202012Validator(ROUTES_SCHEMA)
_MAPPING_VALIDATOR = Draft202012Validator(MAPPING_SCHEMA)
_LIST_FILTERS = ("q", "state", "unread", "assignee")


def validate(source: Source, validator: Draft202012Validator) -> None:
    errors = sorted(validator.iter_errors(source.data), key=lambda e: list(e.absolute_path))
    if errors:
        best = min(errors, key=lambda e: (-len(e.absolute_path), str(e.message)))
        path = tuple(best.absolute_path)
        if "propertyNames" in best.absolute_schema_path:  # the offending key itself
            path = (*path, best.instance)
        raise source.error(path, best.message)


def load_config(path: str | Path, env: Mapping[str, str]) -> GatewayConfig:
    path = Path(path)
    source = load_yaml(path, env, defer_missing=True)
    disabled = drop_disabled_upstreams(source)  # and raises for every other unset variable
    validate(source, _ROUTES_VALIDATOR)
    data = source.data
    digest = hashlib.sha256(source.text.encode())
    upstreams: dict[str, UpstreamSpec] = {}
    secrets: list[str] = []
    for name, settings in data["upstreams"].items():
        mapping_path = (path.parent / settings["mapping"]).resolve()
        mapping = load_yaml(mapping_path, env, display=_display(mapping_path))
        digest.update(mapping.text.encode())
        upstreams[name] = _compile_upstream(name, settings, mapping, source)
        secrets.extend(upstreams[name].auth.secrets)
    listen = data.get("listen", {})
    limits = Limits(**data.get("limits", {}))
    resilience = data.get("resilience", {})
    return GatewayConfig(
        source_file=str(path),
        sha256=digest.hexdigest(),
        host=listen.get("host", "127.0.0.1"),
        port=int(listen.get("port", 8080)),
        log_level=str(data.get("log_level", "INFO")).upper(),
        cursor=_cursor(data["cursor"], source),
        limits=limits,
        consumers=_consumers(data.get("consumers", []), _rate_limit(resilience.get("rate_limit")),
                             source),
        routes=_routes(data["routes"], upstreams, source),
        secrets=tuple(sorted(set(secrets), key=len, reverse=True)),
        resilience=_resilience(resilience, data.get("redis", {}), source),
        server=ServerSettings(**data.get("server", {})),
        disabled=disabled,
    )


def _rate_limit(spec: dict[str, Any] | str | None) -> RateLimit | None:
    if spec is None or spec == "none":
        return None
    rate = float(spec["requests_per_second"])
    return RateLimit(rate, int(spec.get("burst", max(1, round(rate)))))


def _resilience(spec: dict[str, Any], redis: dict[str, Any], source: Source) -> Resilience:
    breaker = BreakerSettings(**spec.get("breaker", {}))
    if breaker.min_calls > breaker.window:
        raise source.error(("resilience", "breaker", "min_calls"),
                           f"min_calls {breaker.min_calls} is more than window {breaker.window}")
    retry = RetrySettings(**spec.get("retry", {}))
    return Resilience(
        deadline_seconds=spec.get("deadline_seconds"),
        retry=retry,
        breaker=breaker,
        idempotency_ttl_seconds=spec.get("idempotency", {}).get("ttl_seconds", 86400),
        max_in_flight=spec.get("max_in_flight", 1024),
        redis_url=redis.get("url") or None,
    )


def _display(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _cursor(spec: dict[str, Any], source: Source) -> CursorSettings:
    secrets = tuple(s.encode() for s in spec["secrets"] if s)
    if not secrets or len(secrets[0]) < 16:
        raise source.error(("cursor", "secrets", 0),
                           "the cursor signing secret must be at least 16 characters")
    return CursorSettings(secrets=secrets, ttl_seconds=int(spec.get("ttl_seconds", 86400)))


def _consumers(specs: list[dict[str, Any]], default_limit: RateLimit | None,
               source: Source) -> dict[str, Consumer]:
    out: dict[str, Consumer] = {}
    for index, spec in enumerate(specs):
        keys = spec["keys"]
        keys = [k.strip() for k in (keys.split(",") if isinstance(keys, str) else keys)]
        allowed = spec.get("upstreams", "*")
        limit = _rate_limit(spec["rate_limit"]) if "rate_limit" in spec else default_limit
        consumer = Consumer(spec["name"], None if allowed == "*" else frozenset(allowed), limit)
        for key in filter(None, keys):
            if len(key) < 8:
                raise source.error(("consumers", index, "keys"),
                                   "API keys must be at least 8 characters")
            out[hashlib.sha256(key.encode()).hexdigest()] = consumer
    return out


def _routes(specs: list[dict[str, Any]], upstreams: dict[str, UpstreamSpec],
            source: Source) -> dict[str, Route]:
    routes: dict[str, Route] = {}
    for index, spec in enumerate(specs):
        where = ("routes", index)
        if spec["name"] in routes:
            raise source.error((*where, "name"), f"route {spec['name']!r} is declared twice")
        upstream = upstreams.get(spec["upstream"])
        if upstream is None:
            raise source.error((*where, "upstream"), f"no upstream named {spec['upstream']!r}; "
                               f"declared: {sorted(upstreams)}")
        wanted = spec.get("operations", "*")
        available = frozenset(upstream.operations)
        if wanted != "*":
            missing = sorted(set(wanted) - available)
            if missing:
                raise source.error((*where, "operations"),
                                   f"mapping {upstream.mapping_file} has no {missing}")
            available = frozenset(wanted)
        routes[spec["name"]] = Route(spec["name"], upstream, available)
    return routes


def _compile_upstream(name: str, settings: dict[str, Any], mapping: Source,
                      routes: Source) -> UpstreamSpec:
    validate(mapping, _MAPPING_VALIDATOR)
    where = ("upstreams", name)
    try:
        zone = ZoneInfo(settings.get("timezone", "UTC"))
    except (ZoneInfoNotFoundError, ValueError):
        raise routes.error((*where, "timezone"),
                           f"unknown time zone {settings.get('timezone')!r}") from None
    base_url = URL(settings["base_url"].rstrip("/"))
    if not base_url.host:
        raise routes.error((*where, "base_url"), "base_url needs a host")
    data = mapping.data
    context = {"credentials": settings.get("credentials", {}), "vars": settings.get("vars", {})}
    fmt = data.get("format", "json")
    errors = data.get("errors", {})
    timeout = settings.get("timeout", {})
    return UpstreamSpec(
        name=name,
        base_url=base_url,
        mapping_file=mapping.file,
        zone=zone,
        connect_timeout=float(timeout.get("connect", 2.0)),
        total_timeout=float(timeout.get("total", 5.0)),
        auth=build_auth(data["auth"], _auth_renderer(mapping, context)),
        vars=dict(context["vars"]),
        xml_lists=frozenset(data.get("xml", {}).get("lists", ())),
        error_detail=_expr(mapping, ("errors", "detail"), errors.get("detail")),
        failure=_expr(mapping, ("errors", "failure"), errors.get("failure")),
        error_rules=tuple(
            ErrorRule(r["answer"], r.get("status"),
                      _expr(mapping, ("errors", "rules", i, "when"), r.get("when")))
            for i, r in enumerate(errors.get("rules", ()))),
        params=_params(mapping, data.get("params", {})),
        operations={op: _compile_operation(mapping, op, spec, fmt)
                    for op, spec in data["operations"].items()},
    )


def _auth_renderer(mapping: Source, context: dict[str, Any]):
    def render(template: str, key: str) -> str:
        path = ("auth", *key.split("."))
        try:
            value = Template(template).render(context)
        except ExpressionError as exc:
            raise mapping.error(path, str(exc)) from None
        if value in (None, ""):
            raise mapping.error(path, f"{template} is empty: set the upstream's credentials")
        return str(value)
    return render


def _params(mapping: Source, params: dict[str, str]) -> dict[str, re.Pattern[str]]:
    out = {}
    for name, pattern in params.items():
        try:
            out[name] = re.compile(pattern)
        except re.error as exc:
            raise mapping.error(("params", name), f"invalid regular expression: {exc}") from None
    return out


def _expr(mapping: Source, path: tuple[Any, ...], text: str | None) -> Expression | None:
    if text is None:
        return None
    try:
        return Expression(text)
    except ExpressionError as exc:
        raise mapping.error(path, str(exc)) from None


def _template(mapping: Source, path: tuple[Any, ...], text: Any) -> Template:
    try:
        return Template(str(text))
    except ExpressionError as exc:
        raise mapping.error(path, str(exc)) from None


def _compile_request(mapping: Source, path: tuple[Any, ...], spec: dict[str, Any],
                     fmt: str) -> RequestSpec:
    body = spec.get("body")
    body_spec = None
    if body is not None:
        try:
            tree = TemplateTree(body["fields"])
        except ExpressionError as exc:
            raise mapping.error((*path, "body", "fields"), str(exc)) from None
        encoding = body.get("encoding", "json" if fmt == "json" else "xml")
        body_spec = BodySpec(encoding, tree, body.get("root"), body.get("namespace"))
    return RequestSpec(
        method=spec["method"],
        path=_template(mapping, (*path, "path"), spec["path"]),
        query={k: _template(mapping, (*path, "query", k), v)
               for k, v in spec.get("query", {}).items() if v is not None},
        headers={k: _template(mapping, (*path, "headers", k), v)
                 for k, v in spec.get("headers", {}).items() if v is not None},
        body=body_spec,
        format=spec.get("format", fmt),
        idempotent=spec.get("idempotent", False),
    )


def _compile_operation(mapping: Source, name: str, spec: dict[str, Any], fmt: str) -> OperationSpec:
    where = ("operations", name)
    canonical = OPERATIONS[name]
    if ("request" in spec) == ("steps" in spec):
        raise mapping.error(where, "an operation has either `request` or `steps`")
    if "request" in spec:
        steps = (StepSpec(None, _compile_request(mapping, (*where, "request"), spec["request"], fmt)),)
    else:
        steps = tuple(
            StepSpec(s.get("name"), _compile_request(mapping, (*where, "steps", i, "request"),
                                                     s["request"], fmt))
            for i, s in enumerate(spec["steps"]))
    response = spec.get("response", {})
    mapper = None
    if canonical.resource is not None:
        if "fields" not in response:
            raise mapping.error((*where, "response"), f"{name} returns a {canonical.resource}: "
                                                      "declare response.fields")
        mapper = ResourceMapper(canonical.resource, response["fields"], mapping.error,
                                (*where, "response", "fields"))
    paginator = None
    if canonical.is_list:
        if "items" not in response:
            raise mapping.error((*where, "response"), "a list operation declares response.items")
        paging = spec.get("pagination", {"type": "none"})
        try:
            paginator = build_paginator(paging)
        except (KeyError, ExpressionError) as exc:
            raise mapping.error((*where, "pagination"), f"incomplete pagination: {exc}") from None
    elif "pagination" in spec:
        raise mapping.error((*where, "pagination"), f"{name} is not a list operation")
    filters = spec.get("filters", {})
    unknown = set(filters) - set(_LIST_FILTERS)
    if unknown or (filters and name != "list_chats"):
        raise mapping.error((*where, "filters"), f"filters apply to list_chats: {list(_LIST_FILTERS)}")
    return OperationSpec(
        name=name,
        steps=steps,
        mapper=mapper,
        items=_expr(mapping, (*where, "response", "items"), response.get("items")),
        item=_expr(mapping, (*where, "response", "item"), response.get("item", "@")),
        paginator=paginator,
        filters=dict(filters),
        after=spec.get("after", "gateway"),
        max_media=spec.get("max_media", 0),
    )
