"""Server behaviour: problem+json for every error class, keys, request ids, system
endpoints. Faults are injected in the emulators (real HTTP), never mocked."""

from __future__ import annotations

import asyncio
import json
import re

import pytest
from openapi_spec_validator import validate

from gateway.emulators import FAULTS
from gateway.server import create_app
from tests.conftest import API_KEY, AUTH, ROUTES, recorded

PROBLEM_KEYS = {"type", "title", "status", "detail", "request_id"}


async def problem(response, status: int, type_: str) -> dict:
    assert response.status == status, await response.text()
    assert response.content_type == "application/problem+json"
    body = await response.json()
    assert PROBLEM_KEYS <= set(body)
    assert body["type"] == f"/problems/{type_}" and body["status"] == status
    assert body["request_id"] == response.headers["X-Request-ID"]
    return body


@pytest.fixture
def fast_timeout_env(gateway_env):
    return {**gateway_env, "GATEWAY_UPSTREAM_TIMEOUT_SECONDS": "0.5"}


@pytest.fixture
async def fast_gateway(aiohttp_client, fast_timeout_env):
    return await aiohttp_client(create_app(ROUTES, fast_timeout_env))


@pytest.mark.parametrize("headers,detail", [
    ({}, "Authorization: Bearer"),
    ({"Authorization": "Basic abc"}, "Authorization: Bearer"),
    ({"Authorization": "Bearer not-a-key-at-all"}, "unknown API key"),
], ids=["missing", "wrong-scheme", "unknown"])
async def test_401_without_a_valid_key(gateway, headers, detail):
    response = await gateway.get("/v1/storeden/chats", headers=headers)
    body = await problem(response, 401, "unauthorized")
    assert detail in body["detail"]
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


async def test_403_when_the_key_may_not_use_the_upstream(aiohttp_client, gateway_env, tmp_path):
    routes = ROUTES.read_text().replace(
        '    upstreams: "*"',
        '    upstreams: "*"\n  - name: storeden-only\n    keys: limited-key-123\n'
        '    upstreams: [storeden]').replace("mappings/", str(ROUTES.parent / "mappings") + "/")
    (tmp_path / "routes.yaml").write_text(routes)
    client = await aiohttp_client(create_app(tmp_path / "routes.yaml", gateway_env))
    limited = {"Authorization": "Bearer limited-key-123"}
    assert (await client.get("/v1/storeden/chats", headers=limited)).status == 200
    await problem(await client.get("/v1/hapihub/chats", headers=limited), 403, "forbidden")
    listing = await (await client.get("/v1/upstreams", headers=limited)).json()
    assert [u["name"] for u in listing["data"]] == ["storeden"]


async def test_404_unknown_upstream_and_endpoint(gateway):
    body = await problem(await gateway.get("/v1/nosuch/chats", headers=AUTH), 404, "not-found")
    assert "nosuch" in body["detail"]
    await problem(await gateway.get("/v2/whatever", headers=AUTH), 404, "not-found")


@pytest.mark.parametrize("method,path,allow", [
    ("DELETE", "/v1/storeden/chats", {"GET"}),
    ("PUT", "/v1/storeden/chats/49077/messages", {"GET", "POST"}),
    ("POST", "/v1/storeden/chats/49077/messages/abc", {"GET", "PATCH"}),
    ("POST", "/healthz", {"GET", "HEAD"}),
])
async def test_405_names_the_allowed_methods(gateway, emulators, method, path, allow):
    response = await gateway.request(method, path, headers=AUTH)
    body = await problem(response, 405, "http-error")
    assert {m.strip() for m in response.headers["Allow"].split(",")} == allow
    assert body["status"] == 405
    assert all(len(recorded(emulators, name)) == 0 for name in emulators.apps)


@pytest.mark.parametrize("query,field", [
    ("limit=0", "limit"), ("limit=101", "limit"), ("limit=ten", "limit"),
    ("colour=blue", "colour"), ("state=maybe", "state"), ("unread=yes", "unread"),
    ("cursor=abc", "cursor"), ("include=everything", "include"), ("limit=5&limit=6", "limit"),
], ids=lambda v: v if "=" not in v else v.split("=")[0] + "-" + v.split("=")[1][:8])
async def test_400_names_the_query_field(gateway, query, field):
    response = await gateway.get(f"/v1/smartsender/chats?{query}", headers=AUTH)
    body = await problem(response, 400, "invalid-cursor" if field == "cursor" else "invalid-request")
    assert body["field"] == field


@pytest.mark.parametrize("payload,field", [
    ({}, "text"), ({"text": ""}, "text"), ({"text": 5}, "text"),
    ({"text": "hi", "colour": "red"}, "colour"),
    ({"text": "hi", "media": [{"url": "x", "kind": "image"}]}, "media.0.kind"),
    ({"text": "hi", "media": [{"type": "image"}]}, "media.0.url"),
], ids=["missing", "empty", "type", "unknown", "unknown-nested", "missing-nested"])
async def test_400_names_the_body_field(gateway, emulators, payload, field):
    log = recorded(emulators, "storeden")
    before = len(log)
    response = await gateway.post("/v1/storeden/chats/49077/messages", json=payload, headers=AUTH)
    body = await problem(response, 400, "invalid-request")
    assert body["field"] == field, body
    assert len(log) == before


@pytest.mark.parametrize("upstream,chat,allowed", [
    ("storeden", "49077", 0), ("smartsender", "7001", 1), ("hapihub", "room-001", 1),
])
async def test_media_an_upstream_cannot_carry_is_refused_not_dropped(gateway, emulators, upstream,
                                                                     chat, allowed):
    media = [{"url": f"https://cdn.example/{i}.png", "type": "image"} for i in range(allowed + 1)]
    log = recorded(emulators, upstream)
    before = len(log)
    response = await gateway.post(f"/v1/{upstream}/chats/{chat}/messages",
                                  json={"text": "pics", "media": media}, headers=AUTH)
    body = await problem(response, 400, "invalid-request")
    assert body["field"] == "media" and f"at most {allowed}" in body["detail"]
    assert len(log) == before


async def test_400_for_a_body_that_is_not_json(gateway):
    response = await gateway.post("/v1/storeden/chats/49077/messages", data=b"{nope",
                                  headers={**AUTH, "Content-Type": "application/json"})
    assert (await problem(response, 400, "invalid-request"))["field"] == "body"
    response = await gateway.post("/v1/storeden/chats/49077/messages", data=b"text=hi",
                                  headers={**AUTH, "Content-Type": "text/plain"})
    assert (await problem(response, 400, "invalid-request"))["field"] == "body"


async def test_413_for_a_body_too_large(gateway):
    response = await gateway.post("/v1/storeden/chats/49077/messages",
                                  json={"text": "x" * (2 * 1024 * 1024)}, headers=AUTH)
    await problem(response, 413, "payload-too-large")


@pytest.mark.parametrize("status", [429, 509])
async def test_upstream_rate_limits_become_429(gateway, emulators, status):
    app = emulators.apps["storeden"]
    app[FAULTS].add("status", status=status, body=b"Limit Exceeded", content_type="text/plain")
    response = await gateway.get("/v1/storeden/chats", headers=AUTH)
    body = await problem(response, 429, "rate-limited")
    # the upstream sent no Retry-After: the gateway's default of 60 s applies
    assert response.headers["Retry-After"] == "60"
    assert "Limit Exceeded" in body["detail"] and body["upstream"] == "storeden"


async def test_502_for_an_upstream_error_keeps_its_text(gateway, emulators):
    emulators.apps["superoffice"][FAULTS].add(
        "status", status=500, body=b'{"Error": true, "ErrorMessage": "Database is sad"}')
    body = await problem(await gateway.get("/v1/superoffice/chats/341", headers=AUTH),
                         502, "upstream-error")
    assert body["detail"] == "superoffice answered 500: Database is sad"
    assert (body["upstream"], body["operation"]) == ("superoffice", "get_chat")


@pytest.mark.parametrize("upstream,path", [
    ("storeden", "/chats/49077/messages"), ("superoffice", "/chats/341/messages"),
    ("spurtcommerce", "/chats"),
], ids=["json", "xml", "xml-envelope"])
async def test_502_for_a_malformed_answer(gateway, emulators, upstream, path):
    emulators.apps[upstream][FAULTS].add("malformed")
    body = await problem(await gateway.get(f"/v1/{upstream}{path}", headers=AUTH),
                         502, "upstream-unreadable")
    assert "not valid" in body["detail"]


async def test_502_for_a_dropped_connection(gateway, emulators):
    # times=2: aiohttp's client re-sends an idempotent request once when a reused
    # keep-alive connection closes under it (RFC 9112 §9.3.1); the second drop is real.
    emulators.apps["hapihub"][FAULTS].add("drop", times=2)
    body = await problem(await gateway.get("/v1/hapihub/chats", headers=AUTH), 502,
                         "upstream-error")
    assert "dropped the connection" in body["detail"]


async def test_503_when_the_upstream_is_down(gateway, emulators):
    runner = emulators._runners[[*emulators.apps].index("storeden")]
    await runner.cleanup()
    body = await problem(await gateway.get("/v1/storeden/chats", headers=AUTH), 503,
                         "upstream-unavailable")
    assert "cannot connect to storeden" in body["detail"]


async def test_504_when_the_upstream_is_slow(fast_gateway, emulators):
    emulators.apps["smartsender"][FAULTS].add("delay", delay=2.0)
    body = await problem(await fast_gateway.get("/v1/smartsender/chats/7001", headers=AUTH),
                         504, "upstream-timeout")
    assert body["detail"] == "smartsender did not answer within 0.5 s"


async def test_credentials_never_reach_the_client(gateway, emulators):
    echo = b'{"error": 1, "message": "bad key demo-storeden-key for exchange demo-storeden-exchange"}'
    emulators.apps["storeden"][FAULTS].add("status", status=403, body=echo)
    body = await problem(await gateway.get("/v1/storeden/chats", headers=AUTH), 502,
                         "upstream-error")
    assert "demo-storeden" not in json.dumps(body)
    assert "[redacted]" in body["detail"]


async def test_request_id_is_kept_or_made_and_sent_upstream(gateway, emulators):
    response = await gateway.get("/v1/storeden/chats", headers={**AUTH, "X-Request-ID": "abc-123"})
    assert response.headers["X-Request-ID"] == "abc-123"
    assert recorded(emulators, "storeden")[-1].headers["X-Request-ID"] == "abc-123"
    response = await gateway.get("/v1/storeden/chats", headers={**AUTH, "X-Request-ID": "bad id; drop"})
    made = response.headers["X-Request-ID"]
    assert made != "bad id; drop" and re.fullmatch("[0-9a-f]{32}", made)
    assert recorded(emulators, "storeden")[-1].headers["X-Request-ID"] == made
    assert (await gateway.get("/healthz")).headers["X-Request-ID"]


async def test_system_endpoints_need_no_key(gateway):
    assert await (await gateway.get("/healthz")).json() == {"status": "ok"}
    ready = await gateway.get("/readyz")
    assert ready.status == 200 and (await ready.json())["config_sha256"]
    metrics = await gateway.get("/metrics")
    assert metrics.status == 200 and "chat_gateway_build_info" in await metrics.text()
    document = await (await gateway.get("/openapi.json")).json()
    validate(document)
    assert document["openapi"].startswith("3.1")


async def test_upstreams_lists_operations(gateway):
    await problem(await gateway.get("/v1/upstreams"), 401, "unauthorized")
    listing = await (await gateway.get("/v1/upstreams", headers=AUTH)).json()
    by_name = {u["name"]: u["operations"] for u in listing["data"]}
    assert by_name["spurtcommerce"] == ["get_profile", "list_chats", "list_messages"]
    assert "send_message" in by_name["smartsender"] and len(by_name) == 7


async def test_include_raw_adds_the_upstream_record(gateway):
    response = await gateway.get("/v1/storeden/chats/49077/messages?limit=1&include=raw",
                                 headers=AUTH)
    [message] = (await response.json())["data"]
    assert message["raw"]["message_id"] == message["id"]
    assert message["raw"]["send_date"] == "2018-10-11T10:26:18+0200"


async def test_readyz_fails_while_draining(gateway):
    from gateway.state import STATE
    gateway.app[STATE].draining = True
    await problem(await gateway.get("/readyz"), 503, "upstream-unavailable")


async def test_concurrent_calls_share_one_session(gateway):
    responses = await asyncio.gather(*[gateway.get("/v1/hapihub/chats/room-001/messages?limit=3",
                                                   headers=AUTH) for _ in range(20)])
    assert {r.status for r in responses} == {200}
    assert API_KEY not in json.dumps([dict(r.headers) for r in responses])
