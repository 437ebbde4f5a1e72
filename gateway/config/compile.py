"""Compile one mapping file into an `UpstreamSpec`: every template and JMESPath, every
canonical field, the paging and auth styles, and the variables each expression reads
(against the context where it runs: see `mapping/variables.py`). Errors are recorded in
`Problems` and compiling goes on, so one run reports them all.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jsonschema import Draft202012Validator
from yarl import URL

from ..canonical import BODY_SCHEMAS, OPERATIONS
from ..errors import ConfigError
from ..mapping.auth import Render, build_auth
from ..mapping.expressions import Expression, ExpressionError, Template, TemplateTree
from ..mapping.fields import ResourceMapper
from ..mapping.lazyxml import lazy_items
from ..mapping.variables import Scope, check_reads, ctx_reads, template_reads
from ..paginators import PAGINATORS, Paginator, build_paginator
from .model import BodySpec, ErrorRule, OperationSpec, RequestSpec, StepSpec, UpstreamSpec
from .problems import Problems, under
from .schemas import MAPPING_SCHEMA
from .source import Source

__all__ = ["compile_upstream", "CONTEXT_KEYS"]

CONTEXT_KEYS = ("chat_id", "message_id", "query", "body", "vars", "steps")
_MAPPING_VALIDATOR = Draft202012Validator(MAPPING_SCHEMA)
_LIST_FILTERS = ("q", "state", "unread", "assignee")


def compile_upstream(name: str, settings: dict[str, Any], mapping: Source,
                      routes: Source, problems: Problems) -> UpstreamSpec:
    bad = problems.schema(mapping, _MAPPING_VALIDATOR)
    where = ("upstreams", name)
    zone: Any = None
    with problems.guard():
        try:
            zone = ZoneInfo(settings.get("timezone", "UTC"))
        except (ZoneInfoNotFoundError, ValueError):
            raise routes.error((*where, "timezone"),
                               f"unknown time zone {settings.get('timezone')!r}") from None
    base_url = URL(settings["base_url"].rstrip("/"))
    if not base_url.host:
        problems.add(routes.error((*where, "base_url"), "base_url needs a host"))
    data = mapping.data if isinstance(mapping.data, dict) else {}
    context = {"credentials": settings.get("credentials") or {}, "vars": settings.get("vars") or {}}
    fmt = data.get("format", "json")
    errors = data.get("errors", {}) if not under(bad, ("errors",)) else {}
    timeout = settings.get("timeout", {})
    upstream_scope = Scope("errors", {key: None for key in CONTEXT_KEYS})
    compiler = _Compiler(mapping, problems, frozenset(context["vars"]))

    def expr(path: tuple[Any, ...], text: str | None) -> Expression | None:
        return compiler.expression(path, text, upstream_scope)

    upstream = UpstreamSpec(
        name=name,
        base_url=base_url,
        mapping_file=mapping.file,
        zone=zone,
        connect_timeout=float(timeout.get("connect", 2.0)),
        total_timeout=float(timeout.get("total", 5.0)),
        auth=problems.part(bad, ("auth",),
                   lambda: build_auth(data["auth"], _auth_renderer(mapping, context))),
        vars=dict(context["vars"]),
        xml_lists=frozenset(data.get("xml", {}).get("lists", ())),
        error_detail=expr(("errors", "detail"), errors.get("detail")),
        failure=expr(("errors", "failure"), errors.get("failure")),
        error_rules=tuple(
            ErrorRule(r["answer"], r.get("status"), expr(("errors", "rules", i, "when"), r.get("when")),
                      r.get("field"))
            for i, r in enumerate(errors.get("rules", ()))),
        params=_params(mapping, data.get("params", {}), problems),
        operations={op: compiled for op, spec in (data.get("operations") or {}).items()
                    if not under(bad, ("operations", op))
                    and (compiled := compiler.operation(op, spec, fmt)) is not None},
    )
    on_answer = [upstream.error_detail, upstream.failure, *(r.when for r in upstream.error_rules)]
    for op, operation in upstream.operations.items():
        upstream.operations[op] = replace(operation, lazy_items=lazy_items(
            operation, on_answer, upstream.xml_lists))
    return upstream


def _auth_renderer(mapping: Source, context: dict[str, Any]) -> Render:
    scope = Scope("auth (rendered once at load from the upstream's credentials and vars)",
                  {k: frozenset(v) for k, v in context.items()})

    def render(template: str, key: str) -> str:
        path = ("auth", *key.split("."))
        try:
            compiled = Template(template)
        except ExpressionError as exc:
            raise mapping.error(path, str(exc)) from None
        for expression in compiled.expressions():
            if any(True for _ in ctx_reads(expression.ast)):
                raise mapping.error(path, "ctx() is not available in auth: it is rendered "
                                          "once at load; read credentials.* or vars.*")
            problems = check_reads(template_reads(expression.ast), scope)
            if problems:
                raise mapping.error(path, problems[0])
        value = compiled.render(context)
        if value in (None, ""):
            raise mapping.error(path, f"{template} is empty: set the upstream's credentials")
        return str(value)
    return render


def _params(mapping: Source, params: dict[str, str], problems: Problems
            ) -> dict[str, re.Pattern[str]]:
    out = {}
    for name, pattern in params.items():
        try:
            out[name] = re.compile(pattern)
        except re.error as exc:
            problems.add(mapping.error(("params", name), f"invalid regular expression: {exc}"))
    return out


def _scope(operation: str, var_names: frozenset[str], steps: list[str]) -> Scope:
    """The context an operation's templates and ctx() see (see operations.Call.context)."""
    canonical = OPERATIONS[operation]
    keys: dict[str, frozenset[str] | None] = {
        "vars": var_names, "steps": frozenset(steps),
        "query": frozenset(set(canonical.query) - {"limit", "cursor"})}
    for name in ("chat_id", "message_id"):
        if "{" + name + "}" in canonical.path:
            keys[name] = None
    if operation in BODY_SCHEMAS:
        keys["body"] = frozenset(BODY_SCHEMAS[operation].get("properties", {}))
    return Scope(operation, keys)


class _Compiler:
    """Compiles one mapping's operations, recording every error in `problems`."""

    def __init__(self, mapping: Source, problems: Problems, var_names: frozenset[str]) -> None:
        self.mapping, self.problems, self.var_names = mapping, problems, var_names

    def error(self, path: tuple[Any, ...], message: str) -> None:
        self.problems.add(self.mapping.error(path, message))

    def expression(self, path: tuple[Any, ...], text: str | None, scope: Scope) -> Expression | None:
        if text is None:
            return None
        try:
            compiled = Expression(text)
        except ExpressionError as exc:
            self.error(path, str(exc))
            return None
        self.check(path, check_reads(ctx_reads(compiled.ast), scope))
        return compiled

    def template(self, path: tuple[Any, ...], text: Any, scope: Scope) -> Template | None:
        try:
            compiled = Template(str(text))
        except ExpressionError as exc:
            self.error(path, str(exc))
            return None
        self.check_template(path, compiled, scope)
        return compiled

    def check_template(self, path: tuple[Any, ...], template: Template, scope: Scope) -> None:
        for expression in template.expressions():
            self.check(path, check_reads(template_reads(expression.ast), scope))

    def check(self, path: tuple[Any, ...], messages: list[str]) -> None:
        for message in messages:
            self.error(path, message)

    def request(self, path: tuple[Any, ...], spec: dict[str, Any], fmt: str,
                scope: Scope) -> RequestSpec:
        body = spec.get("body")
        body_spec = None
        if body is not None:
            try:
                tree = TemplateTree(body["fields"])
            except ExpressionError as exc:
                self.error((*path, "body", "fields"), str(exc))
            else:
                for where, template in tree.templates():
                    self.check_template((*path, "body", "fields", *where), template, scope)
                encoding = body.get("encoding", "json" if fmt == "json" else "xml")
                body_spec = BodySpec(encoding, tree, body.get("root"), body.get("namespace"))
        return RequestSpec(
            method=spec["method"],
            path=self.template((*path, "path"), spec["path"], scope),  # type: ignore[arg-type]
            query={k: self.template((*path, "query", k), v, scope)  # type: ignore[misc]
                   for k, v in spec.get("query", {}).items() if v is not None},
            headers={k: self.template((*path, "headers", k), v, scope)  # type: ignore[misc]
                     for k, v in spec.get("headers", {}).items() if v is not None},
            body=body_spec,
            format=spec.get("format", fmt),
            idempotent=spec.get("idempotent", False),
        )

    def steps(self, name: str, spec: dict[str, Any], fmt: str) -> tuple[tuple[StepSpec, ...], list[str]]:
        where = ("operations", name)
        if "request" in spec:
            request = self.request((*where, "request"), spec["request"], fmt, _scope(name, self.var_names, []))
            return (StepSpec(None, request),), []
        steps: list[StepSpec] = []
        names: list[str] = []
        for index, step in enumerate(spec["steps"]):
            path = (*where, "steps", index)
            request = self.request((*path, "request"), step["request"], fmt,
                                   _scope(name, self.var_names, names))
            steps.append(StepSpec(step.get("name"), request))
            if step.get("name") in names:
                self.error((*path, "name"), f"step {step['name']!r} is named twice")
            if step.get("name") and index < len(spec["steps"]) - 1:
                names.append(step["name"])
        return tuple(steps), names

    def operation(self, name: str, spec: dict[str, Any], fmt: str) -> OperationSpec | None:
        where = ("operations", name)
        canonical = OPERATIONS[name]
        if ("request" in spec) == ("steps" in spec):
            self.error(where, "an operation has either `request` or `steps`")
            return None
        before = len(self.problems.errors)
        steps, names = self.steps(name, spec, fmt)
        scope = _scope(name, self.var_names, names)  # what fields and paging expressions see
        response = spec.get("response", {})
        mapper = self.mapper(name, response, scope)
        paginator = self.paginator(name, spec, scope) if canonical.is_list else None
        if canonical.is_list and "items" not in response:
            self.error((*where, "response"), "a list operation declares response.items")
        unknown = set(spec.get("filters", {})) - set(_LIST_FILTERS)
        if unknown:
            self.error((*where, "filters"), f"filters apply to list_chats: {list(_LIST_FILTERS)}")
        items = self.expression((*where, "response", "items"), response.get("items"), scope)
        item = self.expression((*where, "response", "item"), response.get("item", "@"), scope)
        if len(self.problems.errors) > before:
            return None
        return OperationSpec(name=name, steps=steps, mapper=mapper, items=items,
                             item=item, paginator=paginator,  # type: ignore[arg-type]
                             filters=dict(spec.get("filters", {})),
                             after=spec.get("after", "gateway"),
                             max_media=spec.get("max_media", 0))

    def mapper(self, name: str, response: dict[str, Any], scope: Scope) -> ResourceMapper | None:
        canonical = OPERATIONS[name]
        where = ("operations", name, "response")
        if canonical.resource is None:
            return None
        if "fields" not in response:
            self.error(where, f"{name} returns a {canonical.resource}: declare response.fields")
            return None
        try:
            mapper = ResourceMapper(canonical.resource, response["fields"], self.mapping.error,
                                    (*where, "fields"))
        except ConfigError as error:
            self.problems.add(error)
            return None
        for path, expression in mapper.expressions():
            self.check(path, check_reads(ctx_reads(expression.ast), scope))
        return mapper

    def paginator(self, name: str, spec: dict[str, Any], scope: Scope) -> Paginator | None:
        where = ("operations", name, "pagination")
        paging = spec.get("pagination", {"type": "none"})
        keys = PAGINATORS[paging["type"]].KEYS
        for key, value in paging.items():
            if keys.get(key, {}).get("format") == "jmespath":
                self.expression((*where, key), value, scope)
        try:
            return build_paginator(paging)
        except (KeyError, ExpressionError) as exc:
            self.error(where, f"incomplete pagination: {exc}")
            return None
