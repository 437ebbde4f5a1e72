"""Mapping fixtures: YAML cases beside each mapping, run offline through the real gateway.

A fixture file, `mappings/fixtures/<name>.yaml`, tests the mapping `mappings/<name>.yaml`
(or the one its `mapping:` names). Each case is a canonical call, the upstream requests
it must produce, the upstream's answers, and the canonical result::

    upstream: {base_url: https://api.vendor.test/v1, credentials: {token: t0k}}
    cases:
      - name: a page of messages
        call: {method: GET, path: /chats/7/messages, query: {limit: 2}}
        upstream:
          - request: {method: GET, path: /chats/7/messages, query: {page: "1"}, headers: {Authorization: Bearer t0k}}
            answer: {status: 200, headers: {}, body: {items: […]}}
        result: {status: 200, body: {data: […], next_cursor: <cursor>}}
        then: [{call: {query: {limit: 2}}, upstream: […], result: {…}}]   # follows next_cursor

`run_file()` drives each case through `InProcessGateway` with a `ScriptedSession` and
compares what the gateway sent and answered with the fixture; a mismatch is a unified
diff of the two as YAML. Request `headers` are compared as a subset; query, body and
the canonical result exactly (a non-null `next_cursor` reads `<cursor>`; a problem's
`request_id` is left out).
"""

from __future__ import annotations

import difflib
import json
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import yaml
from jsonschema import Draft202012Validator
from yarl import URL

from ..config.loader import validate
from ..config.source import parse_yaml
from ..errors import ConfigError
from .offline import Answer, Exchange, InProcessGateway, ScriptedSession

__all__ = ["CaseResult", "FixtureFile", "answer_of", "cases_of", "discover", "load_fixture_file", "run_file",
           "FIXTURES_DIR"]

FIXTURES_DIR = "fixtures"
CURSOR = "<cursor>"
_API_KEY = "fixture-api-key-0123456789"
_REQUEST_ID = "fixture"
_SECRET = "fixture-cursor-secret-0123456789"

_STRINGS = {"type": "object", "additionalProperties": {"type": ["string", "number", "boolean"]}}
_CALL = {"type": "object", "additionalProperties": False, "properties": {
    "method": {"enum": ["GET", "POST", "PATCH", "PUT", "DELETE"]}, "path": {"type": "string"},
    "query": _STRINGS, "headers": _STRINGS, "body": {}}}
_EXCHANGE = {"type": "object", "additionalProperties": False, "required": ["request", "answer"], "properties": {
    "request": {"type": "object", "additionalProperties": False, "required": ["method", "path"], "properties": {
        "method": {"type": "string"}, "path": {"type": "string"}, "query": _STRINGS,
        "headers": {"type": "object", "additionalProperties": {"type": ["string", "null"]}}, "body": {}}},
    "answer": {"type": "object", "additionalProperties": False, "properties": {
        "status": {"type": "integer", "minimum": 100, "maximum": 599}, "headers": _STRINGS,
        "body": {}, "fault": {"enum": ["timeout", "disconnect", "refused"]}}}}}
_STEP = {"call": _CALL, "upstream": {"type": "array", "items": _EXCHANGE},
         "result": {"type": "object", "additionalProperties": False, "required": ["status"], "properties": {
             "status": {"type": "integer"}, "headers": _STRINGS, "body": {}}}}
SCHEMA: dict[str, Any] = {
    "type": "object", "additionalProperties": False, "required": ["upstream", "cases"], "properties": {
        "description": {"type": "string"},
        "mapping": {"type": "string"},
        "upstream": {"type": "object", "required": ["base_url"], "properties": {
            "base_url": {"type": "string"}, "mapping": False}},
        "cases": {"type": "array", "minItems": 1, "items": {
            "type": "object", "additionalProperties": False, "required": ["name", "call", "result"],
            "properties": {"name": {"type": "string"}, **_STEP, "then": {"type": "array", "items": {
                "type": "object", "additionalProperties": False, "required": ["result"], "properties": _STEP}}}}}}}
_VALIDATOR = Draft202012Validator(SCHEMA)


class _NoDates(yaml.SafeLoader):
    """YAML without implicit timestamps: `2024-04-02T09:30:00Z` stays the string it is."""


_NoDates.yaml_implicit_resolvers = {
    key: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}


@dataclass
class FixtureFile:
    path: Path
    name: str  # the route the cases call: /v1/<name>/…
    mapping: Path
    upstream: dict[str, Any]
    cases: list[dict[str, Any]]


@dataclass
class CaseResult:
    file: Path
    name: str
    expected: str = ""
    actual: str = ""
    error: str | None = None  # the case could not run (bad config, bad fixture)

    @property
    def ok(self) -> bool:
        return self.error is None and self.expected == self.actual

    def diff(self) -> str:
        if self.error is not None:
            return self.error
        return "".join(difflib.unified_diff(
            self.expected.splitlines(keepends=True), self.actual.splitlines(keepends=True),
            fromfile=f"{_display(self.file)} · {self.name} (expected)", tofile="gateway (actual)"))


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def discover(mapping_dirs: list[Path]) -> list[Path]:
    """Every fixture file in the `fixtures/` folder of each mapping folder."""
    found: list[Path] = []
    for folder in dict.fromkeys(d.resolve() for d in mapping_dirs):
        found += sorted((folder / FIXTURES_DIR).glob("*.yaml"))
    return found


def load_fixture_file(path: Path) -> FixtureFile:
    text = path.read_text(encoding="utf-8")
    source = parse_yaml(text, {}, file=str(path))  # for file:line in schema errors
    validate(source, _VALIDATOR)
    data = yaml.load(text, Loader=_NoDates)  # noqa: S506 - a SafeLoader subclass
    mapping = (path.parent / data.get("mapping", f"../{path.stem}.yaml")).resolve()
    return FixtureFile(path, path.stem, mapping, data["upstream"], data["cases"])


def cases_of(paths: list[Path]) -> Iterator[tuple[Path, str]]:
    for path in paths:
        for case in load_fixture_file(path).cases:
            yield path, case["name"]


async def run_file(fixture: FixtureFile, only: str | None = None) -> list[CaseResult]:
    """Run every case of `fixture` (or the one named `only`)."""
    cases = [c for c in fixture.cases if only is None or c["name"] == only]
    session = ScriptedSession()
    with tempfile.TemporaryDirectory(prefix="chat-gateway-fixtures-") as folder:
        routes = Path(folder) / "routes.yaml"
        routes.write_text(_routes_document(fixture), encoding="utf-8")
        try:
            gateway = InProcessGateway(routes, {}, session)
        except ConfigError as exc:
            return [CaseResult(fixture.path, c["name"], error=f"config: {exc}") for c in cases]
        async with gateway:
            return [await _run_case(fixture, gateway, session, case) for case in cases]


def _routes_document(fixture: FixtureFile) -> str:
    upstream = {**fixture.upstream, "mapping": str(fixture.mapping)}
    document = {"cursor": {"secrets": [_SECRET]},
                "consumers": [{"name": "fixtures", "keys": [_API_KEY], "upstreams": "*"}],
                "upstreams": {fixture.name: upstream},
                "routes": [{"name": fixture.name, "upstream": fixture.name}],
                # a case scripts each exchange: no retries, no breaker opening between cases
                "resilience": {"retry": {"attempts": 1},
                               "breaker": {"consecutive_failures": 10**9, "window": 10**4,
                                           "min_calls": 10**4}}}
    return json.dumps(document, ensure_ascii=False).replace("${", "$${")


async def _run_case(fixture: FixtureFile, gateway: InProcessGateway, session: ScriptedSession,
                    case: dict[str, Any]) -> CaseResult:
    expected: list[Any] = []
    actual: list[Any] = []
    first = case["call"]
    cursor = None
    for index, step in enumerate([case, *case.get("then", ())]):
        call = {**first, **step.get("call", {})}
        query = {k: _text(v) for k, v in call.get("query", {}).items()}
        if index > 0:
            if cursor is None:
                return CaseResult(fixture.path, case["name"], _dump(expected), _dump(actual),
                                  error=f"{fixture.path}: case {case['name']!r} step {index}: "
                                        "the previous result has no next_cursor to follow")
            query["cursor"] = cursor
        exchanges = step.get("upstream", [])
        session.answers = [answer_of(e.get("answer", {})) for e in exchanges]
        session.exchanges = []
        headers = {"Authorization": f"Bearer {_API_KEY}", "X-Request-ID": _REQUEST_ID,
                   **{k: str(v) for k, v in call.get("headers", {}).items()}}
        answer = await gateway.call(call.get("method", "GET"), f"/v1/{fixture.name}{call['path']}",
                                    query=query, body=call.get("body"), headers=headers)
        cursor = (answer.body or {}).get("next_cursor") if isinstance(answer.body, dict) else None
        label = f"{call.get('method', 'GET')} {call['path']}" + (f" {query}" if query else "")
        expected.append(_expected_step(label, exchanges, step["result"]))
        actual.append(_actual_step(label, fixture, exchanges, session.exchanges, step["result"], answer))
    return CaseResult(fixture.path, case["name"], _dump(expected), _dump(actual))


def answer_of(spec: dict[str, Any]) -> Answer:
    """A fixture's `answer:` (status, headers, body as data or text, fault) as an `Answer`."""
    body = spec.get("body")
    headers = {k: str(v) for k, v in spec.get("headers", {}).items()}
    if isinstance(body, str):
        data = body.encode()
        default_type = "application/xml" if body.lstrip().startswith("<") else "text/plain"
    elif body is None:
        data, default_type = b"", "application/json"
    else:
        data, default_type = json.dumps(body, ensure_ascii=False).encode(), "application/json"
    if not any(k.lower() == "content-type" for k in headers):
        headers["Content-Type"] = default_type
    return Answer(spec.get("status", 200), headers, data, spec.get("fault"))


def _expected_step(label: str, exchanges: list[dict[str, Any]], result: dict[str, Any]) -> dict[str, Any]:
    requests = []
    for exchange in exchanges:
        request = exchange["request"]
        requests.append({"method": request["method"], "path": request["path"],
                         "query": {k: _text(v) for k, v in request.get("query", {}).items()},
                         "headers": request.get("headers", {}), "body": request.get("body")})
    return {"call": label, "upstream": requests, "result": _result(result)}


def _actual_step(label: str, fixture: FixtureFile, expected: list[dict[str, Any]], sent: list[Exchange],
                 result: dict[str, Any], answer: Any) -> dict[str, Any]:
    requests = []
    for index, exchange in enumerate(sent):
        wanted = expected[index]["request"].get("headers", {}) if index < len(expected) else {}
        requests.append({"method": exchange.method, "path": _relative_path(fixture, exchange),
                         "query": _query(exchange), "headers": _headers_subset(exchange, wanted),
                         "body": _body(exchange)})
    got: dict[str, Any] = {"status": answer.status, "body": answer.body}
    if "headers" in result:
        got["headers"] = {k: answer.headers.get(k) for k in result["headers"]}
    return {"call": label, "upstream": requests, "result": _result(got)}


def _result(result: dict[str, Any]) -> dict[str, Any]:
    body = result.get("body")
    if isinstance(body, dict):
        body = {k: v for k, v in body.items() if k != "request_id"}
        if body.get("next_cursor") is not None:
            body["next_cursor"] = CURSOR
    out = {"status": result["status"], "body": body}
    if "headers" in result:
        out["headers"] = {k: _text(v) for k, v in result["headers"].items()}
    return out


def _relative_path(fixture: FixtureFile, exchange: Exchange) -> str:
    """The path as the mapping writes it: after the base URL's own path."""
    prefix = URL(str(fixture.upstream["base_url"])).path.rstrip("/")
    path = exchange.url.path
    return (path[len(prefix):] or "/") if prefix and path.startswith(prefix + "/") else path


def _query(exchange: Exchange) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in exchange.url.query.items():
        out[key] = [*out[key], value] if isinstance(out.get(key), list) else (
            [out[key], value] if key in out else value)
    return out


def _headers_subset(exchange: Exchange, wanted: dict[str, Any]) -> dict[str, Any]:
    lowered = {k.lower(): v for k, v in exchange.headers.items()}
    return {name: lowered.get(name.lower()) for name in wanted}


def _body(exchange: Exchange) -> Any:
    if not exchange.body:
        return None
    text = exchange.body.decode("utf-8", "replace")
    content_type = next((v for k, v in exchange.headers.items() if k.lower() == "content-type"), "")
    if "json" in content_type:
        try:
            return json.loads(text)
        except ValueError:
            return text
    if "x-www-form-urlencoded" in content_type:
        return dict(parse_qsl(text, keep_blank_values=True))
    return text


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _dump(steps: list[dict[str, Any]]) -> str:
    return yaml.safe_dump(steps, allow_unicode=True, sort_keys=False, width=100)
