"""The OpenAPI document: valid 3.1, complete, and faithful to the contract's examples."""

from __future__ import annotations

import collections
import json

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import OpenAPIV31SpecValidator, validate
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from gateway.canonical import BODY_SCHEMAS, OPERATIONS
from gateway.openapi import build_openapi

ALL = list(OPERATIONS)
ROUTE_SETS = {
    "none": {},
    "one-full": {"storeden": ALL},
    "partial": {"storeden": ALL, "smartsender": ["list_chats", "get_chat", "send_message"],
                "hapihub": []},
    "nobody-closes": {"superoffice": [op for op in ALL if op != "close_chat"]},
}
METHODS = {"get", "put", "post", "patch", "delete"}

CHAT = {"id": "49077", "title": "James Bond", "state": "open", "unread_count": 2,
        "contact": {"id": "49077", "name": "James Bond"},
        "last_message": {"text": "👍", "sent_at": "2018-10-11T08:26:18Z"},
        "assignee_id": None, "created_at": None, "updated_at": "2018-10-11T08:26:18Z"}
MESSAGE = {"id": "5bbf092a16f46a0119e55a80", "chat_id": "49077", "text": "Lorem Ipsum 4",
           "media": [], "direction": "outbound", "sender": {"id": "132", "name": None},
           "sent_at": "2018-10-11T08:26:18Z", "read": True, "type": "text"}
PROBLEM = {"type": "/problems/upstream-timeout", "title": "Upstream timed out",
           "status": 504, "detail": "storeden did not answer within 5.0 s",
           "upstream": "storeden", "operation": "list_messages", "request_id": "r-1"}


def validator(doc: dict, schema_name: str) -> Draft202012Validator:
    """A validator for one component schema, resolving $refs inside the document."""
    uri = "urn:chat-gateway:openapi"
    registry = Registry().with_resource(uri, Resource(doc, specification=DRAFT202012))
    schema = {"$ref": f"{uri}#/components/schemas/{schema_name}"}
    return Draft202012Validator(schema, registry=registry,
                                format_checker=Draft202012Validator.FORMAT_CHECKER)


def operations(doc: dict) -> list[tuple[str, str, dict]]:
    return [(path, method, op) for path, item in doc["paths"].items()
            for method, op in item.items() if method in METHODS]


@pytest.fixture
def doc() -> dict:
    return build_openapi(ROUTE_SETS["partial"], version="1.2.3")


@pytest.mark.parametrize("routes", ROUTE_SETS.values(), ids=ROUTE_SETS.keys())
def test_document_is_valid_openapi_31(routes):
    doc = build_openapi(routes, version="0.1.0", server_url="https://gw.example.com")
    validate(doc, cls=OpenAPIV31SpecValidator)
    assert doc["openapi"] == "3.1.0"
    assert doc["servers"] == [{"url": "https://gw.example.com"}]
    assert json.loads(json.dumps(doc)) == doc


def test_document_is_deterministic():
    forward = {"a": ["get_chat", "list_chats"], "b": ["get_profile"]}
    backward = {"b": ["get_profile"], "a": ["list_chats", "get_chat"]}
    first = json.dumps(build_openapi(forward, version="1"))
    assert first == json.dumps(build_openapi(backward, version="1"))


def test_info_servers_and_security(doc):
    assert doc["info"] == {"title": "chat-gateway canonical chat API", "version": "1.2.3"}
    assert "servers" not in doc
    assert doc["components"]["securitySchemes"]["apiKey"] == {
        "type": "http", "scheme": "bearer", "description": "Authorization: Bearer <api key>"}
    assert doc["security"] == [{"apiKey": []}]
    for path in ("/healthz", "/readyz", "/metrics", "/openapi.json"):
        assert doc["paths"][path]["get"]["security"] == []
    assert "security" not in doc["paths"]["/v1/upstreams"]["get"]


@pytest.mark.parametrize("routes", ROUTE_SETS.values(), ids=ROUTE_SETS.keys())
def test_every_operation_appears_exactly_once(routes):
    found = operations(build_openapi(routes, version="1"))
    counts = collections.Counter(op["operationId"] for _, _, op in found)
    assert all(count == 1 for count in counts.values())
    where = {op["operationId"]: (path, method) for path, method, op in found}
    for name, op in OPERATIONS.items():
        assert where[name] == ("/v1/{upstream}" + op.path, op.method.lower())
    assert where["list_upstreams"] == ("/v1/upstreams", "get")


def test_unsupported_operations_still_appear_and_answer_501():
    doc = build_openapi(ROUTE_SETS["nobody-closes"], version="1")
    close = doc["paths"]["/v1/{upstream}/chats/{chat_id}/close"]["post"]
    assert "every upstream answers 501" in close["description"]
    assert "501" in close["responses"]
    get_chat = doc["paths"]["/v1/{upstream}/chats/{chat_id}"]["get"]
    assert get_chat["description"].startswith("Supported by `superoffice`.")


def test_upstream_parameter_lists_every_route(doc):
    upstream = doc["components"]["parameters"]["upstream"]
    assert upstream["in"] == "path" and upstream["required"] is True
    assert upstream["schema"] == {"$ref": "#/components/schemas/Upstream"}
    assert doc["components"]["schemas"]["Upstream"] == {
        "type": "string", "enum": ["hapihub", "smartsender", "storeden"]}
    send = doc["paths"]["/v1/{upstream}/chats/{chat_id}/messages"]["post"]
    note = "Supported by `smartsender`, `storeden`. Other upstreams answer 501."
    assert send["description"] == note


def test_unknown_operation_name_fails_loudly():
    with pytest.raises(ValueError, match="'storeden'.*'delete_chat'"):
        build_openapi({"storeden": ["delete_chat"]}, version="1")


@pytest.mark.parametrize("name", OPERATIONS)
def test_operation_parameters_and_responses(doc, name):
    op = OPERATIONS[name]
    spec = doc["paths"]["/v1/{upstream}" + op.path][op.method.lower()]
    refs = [p["$ref"].rsplit("/", 1)[1] for p in spec["parameters"]]
    expected = ["X-Request-ID", *op.query] + (["include"] if op.resource else [])
    assert refs == expected
    statuses = {"400", "401", "403", "404", "429", "501", "502", "503", "504"}
    if name in BODY_SCHEMAS:
        statuses.add("413")
        assert spec["requestBody"]["required"] is True
    assert set(spec["responses"]) == statuses | {str(op.success_status)}
    success = spec["responses"][str(op.success_status)]
    assert "X-Request-ID" in success["headers"]
    assert ("content" in success) == (op.resource is not None)


def test_problem_responses(doc):
    responses = doc["components"]["responses"]
    for response in responses.values():
        assert list(response["content"]) == ["application/problem+json"]
        assert "X-Request-ID" in response["headers"]
    assert "Retry-After" in responses["TooManyRequests"]["headers"]


def test_gateway_endpoints(doc):
    paths = doc["paths"]
    assert "503" in paths["/readyz"]["get"]["responses"]
    metrics = paths["/metrics"]["get"]["responses"]["200"]["content"]
    assert list(metrics) == ["text/plain; version=0.0.4"]
    assert validator(doc, "Health").is_valid({"status": "ok"})
    upstreams = {"data": [{"name": "storeden", "operations": ["list_chats", "get_chat"]}]}
    assert validator(doc, "UpstreamList").is_valid(upstreams)


def test_contract_examples_validate(doc):
    validator(doc, "Chat").validate(CHAT)
    validator(doc, "Message").validate(MESSAGE)
    validator(doc, "Profile").validate({"id": "314", "name": "Ann", "email": None})
    validator(doc, "Problem").validate(PROBLEM)
    validator(doc, "ChatList").validate({"data": [CHAT], "next_cursor": "abc"})
    validator(doc, "MessageList").validate({"data": [MESSAGE], "next_cursor": None})
    validator(doc, "SendMessage").validate({"text": "hi", "media": [{"url": "https://x"}]})
    validator(doc, "MarkMessageSeen").validate({"seen": True})
    validator(doc, "AssignChat").validate({"operator_id": "7"})


@pytest.mark.parametrize("field", MESSAGE)
def test_message_missing_a_field_is_invalid(doc, field):
    message = {k: v for k, v in MESSAGE.items() if k != field}
    assert not validator(doc, "Message").is_valid(message)


@pytest.mark.parametrize("bad", [
    pytest.param({"sent_at": "2018-10-11T10:26:18+02:00"}, id="offset-not-z"),
    pytest.param({"id": 5}, id="numeric-id"),
    pytest.param({"direction": "sideways"}, id="bad-direction"),
    pytest.param({"extra": 1}, id="unknown-field"),
])
def test_message_with_bad_value_is_invalid(doc, bad):
    assert not validator(doc, "Message").is_valid({**MESSAGE, **bad})


def test_list_without_next_cursor_is_invalid(doc):
    assert not validator(doc, "ChatList").is_valid({"data": [CHAT]})


def _enums(node, where=""):
    """Every inline enum in the document: (where, sorted values)."""
    if isinstance(node, dict):
        if "enum" in node:
            yield where, sorted(v for v in node["enum"] if v is not None)
        for key, value in node.items():
            yield from _enums(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _enums(value, f"{where}/{i}")


def test_each_enum_is_one_shared_component(doc):
    """Generated clients get one type per enum, not one per operation or field."""
    places = collections.defaultdict(list)
    for where, values in _enums(doc):
        places[tuple(values)].append(where)
    repeated = {values: where for values, where in places.items() if len(where) > 1}
    assert repeated == {}
    schemas = doc["components"]["schemas"]
    assert schemas["Direction"] == {"type": "string", "enum": ["inbound", "outbound"]}
    assert schemas["Message"]["properties"]["direction"] == {
        "anyOf": [{"$ref": "#/components/schemas/Direction"}, {"type": "null"}]}
    assert doc["components"]["parameters"]["state"]["schema"] == {
        "$ref": "#/components/schemas/ChatState"}
    assert schemas["UpstreamInfo"]["properties"]["operations"]["items"] == {
        "$ref": "#/components/schemas/Operation"}


def test_every_operation_is_tagged_with_a_declared_tag(doc):
    declared = {tag["name"] for tag in doc["tags"]}
    used = [(path, method, op.get("tags")) for path, method, op in operations(doc)]
    assert [u for u in used if not u[2] or not set(u[2]) <= declared] == []
    assert {tag for *_, tags in used for tag in tags} == declared
    assert doc["paths"]["/v1/{upstream}/chats/{chat_id}/messages"]["get"]["tags"] == [
        "Messages"]
