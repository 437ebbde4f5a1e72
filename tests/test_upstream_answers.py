"""How upstream answers are classified: each failure its own problem type, status and
metric outcome (errors.py's table). Faults come from the emulators over real HTTP:
empty 2xx bodies, "200 but failed" envelopes, hostile Retry-After values, redirects,
oversized answers, credentials echoed in escaped forms."""

from __future__ import annotations

import email.utils
import gzip
import json
import shutil
from pathlib import Path
from urllib.parse import quote

import pytest
from prometheus_client import CollectorRegistry

from gateway.emulators import FAULTS
from gateway.server import create_app
from tests.conftest import AUTH, ROUTES, recorded


async def problem(response, status: int, type_: str) -> dict:
    assert response.status == status, await response.text()
    assert response.content_type == "application/problem+json"
    body = await response.json()
    assert body["type"] == f"/problems/{type_}", body
    return body


def outcome(registry, upstream: str, operation: str, code: str, outcome: str) -> float:
    return registry.get_sample_value("chat_gateway_upstream_requests_total", {
        "upstream": upstream, "operation": operation, "code": code, "outcome": outcome}) or 0


def mapping_failures(registry) -> float:
    return sum(s.value for m in registry.collect() if m.name == "chat_gateway_mapping_failures"
               for s in m.samples if s.name.endswith("_total"))


@pytest.fixture
def config_dir(tmp_path):
    """A copy of routes.yaml and the mappings that a test may edit."""
    shutil.copy(ROUTES, tmp_path / "routes.yaml")
    shutil.copytree(ROUTES.parent / "mappings", tmp_path / "mappings")
    return tmp_path


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


@pytest.fixture
def custom_gateway(aiohttp_client, gateway_env, config_dir, clock):
    async def start(registry=None, env=None):
        app = create_app(config_dir / "routes.yaml", {**gateway_env, **(env or {})},
                         registry=registry or CollectorRegistry(), clock=clock)
        return await aiohttp_client(app)
    return start


# -- empty 2xx bodies ----------------------------------------------------------------

@pytest.mark.parametrize("upstream,path,method,body", [
    ("storeden", "/chats/49077/messages", "GET", None),
    ("hapihub", "/chats", "GET", None),
    ("storeden", "/chats/49077/messages", "POST", {"text": "hi"}),
    ("hapihub", "/chats/room-001/messages/msg-0001", "GET", None),
    ("superoffice", "/chats/341/messages", "POST", {"text": "hi"}),
], ids=["list", "list-bare-array", "send", "get", "send-xml"])
@pytest.mark.parametrize("status", [200, 204])
async def test_an_empty_2xx_answer_is_unreadable_not_success(gateway, emulators, registry,
                                                            upstream, path, method, body, status):
    emulators.apps[upstream][FAULTS].add("status", status=status, body=b"")
    response = await gateway.request(method, f"/v1/{upstream}{path}", json=body, headers=AUTH)
    detail = (await problem(response, 502, "upstream-unreadable"))["detail"]
    assert "empty body" in detail
    operation = {"GET": "list_messages" if "messages" in path and path.endswith("messages")
                 else ("list_chats" if path == "/chats" else "get_message"),
                 "POST": "send_message"}[method]
    assert outcome(registry, upstream, operation, str(status), "decode_error") == 1


async def test_an_empty_first_step_answer_stops_a_two_step_send(gateway, emulators):
    emulators.apps["smartsender"][FAULTS].add("status", status=200, body=b"  \n")
    response = await gateway.post("/v1/smartsender/chats/7001/messages", json={"text": "hi"},
                                  headers=AUTH)
    await problem(response, 502, "upstream-unreadable")
    assert [r.method for r in recorded(emulators, "smartsender")] == ["GET"]


@pytest.mark.parametrize("status", [200, 204])
async def test_an_empty_answer_is_fine_where_nothing_is_read(gateway, emulators, status):
    emulators.apps["smartsender"][FAULTS].add("status", status=status, body=b"")
    response = await gateway.post("/v1/smartsender/chats/7001/read", headers=AUTH)
    assert response.status == 204


# -- "200 but failed" and errors.rules ------------------------------------------------

async def test_200_but_failed_is_a_refusal_not_a_mapping_failure(gateway, emulators, registry):
    emulators.apps["storeden"][FAULTS].add(
        "status", status=200, body=b'{"error": 3, "message": "exchange suspended"}')
    body = await problem(await gateway.get("/v1/storeden/chats", headers=AUTH),
                         502, "upstream-refused")
    assert body["detail"] == "storeden answered 200 but reported a failure: exchange suspended"
    assert outcome(registry, "storeden", "list_chats", "200", "envelope_error") == 1
    assert mapping_failures(registry) == 0  # the mapping-failure alert stays quiet


async def test_an_unreadable_answer_still_counts_as_a_mapping_failure(gateway, emulators,
                                                                    registry):
    emulators.apps["storeden"][FAULTS].add("malformed")
    await problem(await gateway.get("/v1/storeden/chats", headers=AUTH), 502,
                  "upstream-unreadable")
    assert mapping_failures(registry) == 1
    assert outcome(registry, "storeden", "list_chats", "200", "decode_error") == 1


HAPIHUB_ERRORS = "errors:\n  detail: message\n"


@pytest.mark.parametrize("rule,answer,type_", [
    ("{when: \"body.error == 'channel_not_found'\", answer: 404}", 404, "not-found"),
    ("{status: 200, when: \"body.error == 'channel_not_found'\", answer: 404}", 404, "not-found"),
    ("{when: \"body.error == 'channel_not_found'\", answer: 409}", 409, "conflict"),
    ("{when: \"body.error == 'channel_not_found'\", answer: 422}", 422, "unprocessable"),
    ("{when: \"body.error == 'channel_not_found'\", answer: 503}", 503, "upstream-unavailable"),
    ("{when: \"body.error == 'other'\", answer: 404}", 502, "upstream-refused"),
], ids=["404", "404-explicit-200", "409", "422", "503", "no-rule-matches"])
async def test_rules_map_a_2xx_envelope_failure(custom_gateway, config_dir, emulators, rule,
                                                answer, type_):
    edit(config_dir / "mappings/hapihub.yaml", HAPIHUB_ERRORS,
         f"errors:\n  detail: error\n  failure: \"ok == `false`\"\n  rules:\n    - {rule}\n")
    gateway = await custom_gateway()
    emulators.apps["hapihub"][FAULTS].add(
        "status", status=200, body=b'{"ok": false, "error": "channel_not_found"}')
    body = await problem(await gateway.get("/v1/hapihub/chats/room-001", headers=AUTH),
                         answer, type_)
    assert "channel_not_found" in body["detail"]


async def test_a_rule_naming_a_2xx_status_needs_no_failure_expression(custom_gateway,
                                                                     config_dir, emulators):
    edit(config_dir / "mappings/hapihub.yaml", HAPIHUB_ERRORS,
         "errors:\n  detail: error\n  rules:\n"
         "    - {status: 200, when: \"body.ok == `false`\", answer: 409}\n")
    gateway = await custom_gateway()
    assert (await gateway.get("/v1/hapihub/chats/room-001", headers=AUTH)).status == 200
    emulators.apps["hapihub"][FAULTS].add("status", status=200,
                                          body=b'{"ok": false, "error": "archived"}')
    await problem(await gateway.get("/v1/hapihub/chats/room-001", headers=AUTH), 409, "conflict")


async def test_a_rule_without_status_never_turns_a_good_2xx_into_an_error(
        custom_gateway, config_dir):
    edit(config_dir / "mappings/hapihub.yaml", HAPIHUB_ERRORS,
         "errors:\n  detail: message\n  rules:\n    - {answer: 503}\n")
    gateway = await custom_gateway()
    assert (await gateway.get("/v1/hapihub/chats/room-001", headers=AUTH)).status == 200


@pytest.mark.parametrize("upstream,chat", [("storeden", "49077"), ("smartsender", "7001")])
async def test_an_upstream_refusing_the_clients_own_text_is_a_400_naming_it(gateway, emulators,
                                                                           upstream, chat):
    response = await gateway.post(f"/v1/{upstream}/chats/{chat}/messages",
                                  json={"text": "   "}, headers=AUTH)
    body = await problem(response, 400, "invalid-request")
    assert body["field"] == "text"
    assert recorded(emulators, upstream)[-1].method == "POST"  # the upstream said so


async def test_an_upstream_400_on_a_get_never_blames_the_body(custom_gateway, config_dir,
                                                             emulators):
    edit(config_dir / "mappings/hapihub.yaml", HAPIHUB_ERRORS,
         "errors:\n  detail: message\n  rules:\n    - {status: 400, answer: 400}\n")
    gateway = await custom_gateway()
    emulators.apps["hapihub"][FAULTS].add("status", status=400, times=2,
                                          body=b'{"message": "bad room"}')
    body = await problem(await gateway.get("/v1/hapihub/chats/room-001", headers=AUTH),
                         400, "invalid-request")
    assert "field" not in body
    body = await problem(await gateway.post("/v1/hapihub/chats/room-001/messages",
                                            json={"text": "x"}, headers=AUTH),
                         400, "invalid-request")
    assert body["field"] == "body"


# -- statuses --------------------------------------------------------------------------

@pytest.mark.parametrize("status,answer,type_", [
    (404, 404, "not-found"), (410, 404, "not-found"), (409, 502, "upstream-error"),
    (503, 503, "upstream-unavailable"), (504, 504, "upstream-timeout"),
    (500, 502, "upstream-error"), (401, 502, "upstream-error"),
])
async def test_default_answers_for_upstream_statuses(gateway, emulators, registry, status,
                                                    answer, type_):
    emulators.apps["hapihub"][FAULTS].add("status", status=status, body=b'{"message": "x"}')
    await problem(await gateway.get("/v1/hapihub/chats/room-001", headers=AUTH), answer, type_)
    assert outcome(registry, "hapihub", "get_chat", str(status), "http_error") == 1


@pytest.mark.parametrize("status", [301, 302, 307, 308])
async def test_a_redirect_is_not_followed(gateway, emulators, status):
    other = emulators.base_urls["smartsender"]
    emulators.apps["hapihub"][FAULTS].add("status", status=status, body=b"",
                                          headers={"Location": f"{other}/chats/7001"})
    await problem(await gateway.get("/v1/hapihub/chats/room-001", headers=AUTH), 502,
                  "upstream-error")
    assert recorded(emulators, "smartsender") == []


# -- Retry-After -------------------------------------------------------------------------

@pytest.mark.parametrize("header,expected", [
    (None, 60), ("120", 120), ("0", 1), ("999999999", 300), ("1" * 5000, 60), ("²", 60),
    ("-5", 60), ("soon", 60), ("DATE+120", 120), ("DATE-30", 1), ("DATE+86400", 300),
], ids=["absent", "seconds", "zero", "huge", "5000-digits", "superscript", "negative",
        "text", "http-date", "date-past", "date-far"])
async def test_upstream_retry_after_is_read_and_capped(gateway, emulators, clock, header,
                                                      expected):
    headers = {}
    if header is not None and header.startswith("DATE"):
        headers["Retry-After"] = email.utils.formatdate(clock.now + int(header[4:]), usegmt=True)
    elif header is not None:
        headers["Retry-After"] = header
    emulators.apps["storeden"][FAULTS].add("status", status=429, body=b"slow down",
                                           headers=headers, content_type="text/plain")
    response = await gateway.get("/v1/storeden/chats", headers=AUTH)
    await problem(response, 429, "rate-limited")
    assert response.headers["Retry-After"] == str(expected)


async def test_the_retry_after_cap_is_configurable(custom_gateway, config_dir, emulators):
    edit(config_dir / "routes.yaml", "  max_upstream_calls: 50",
         "  max_upstream_calls: 50\n  max_retry_after_seconds: 30")
    gateway = await custom_gateway()
    emulators.apps["storeden"][FAULTS].add("status", status=509, body=b"Limit Exceeded",
                                           headers={"Retry-After": "3600"})
    response = await gateway.get("/v1/storeden/chats", headers=AUTH)
    assert (response.status, response.headers["Retry-After"]) == (429, "30")


# -- oversized answers --------------------------------------------------------------------

@pytest.mark.parametrize("framing", ["content-length", "chunked", "gzip"])
@pytest.mark.parametrize("size,status,type_", [
    (4096, 200, None), (4097, 502, "upstream-too-large"), (40_000, 502, "upstream-too-large"),
], ids=["at-limit", "one-over", "far-over"])
async def test_max_upstream_body_bytes_caps_the_answer(custom_gateway, config_dir, emulators,
                                                      size, status, type_, framing):
    """The cap holds whether the answer states its length, is chunked, or is compressed
    (the cap is on the decompressed size: 40 kB of gzip is a few dozen bytes on the wire)."""
    edit(config_dir / "routes.yaml", "max_upstream_body_bytes: 16777216",
         "max_upstream_body_bytes: 4096")
    registry = CollectorRegistry()
    gateway = await custom_gateway(registry)
    body = b"[" + b" " * (size - 2) + b"]"
    headers = {}
    if framing == "gzip":
        body, headers = gzip.compress(body), {"Content-Encoding": "gzip"}
    emulators.apps["storeden"][FAULTS].add("status", status=200, body=body, headers=headers,
                                           chunked=framing == "chunked")
    response = await gateway.get("/v1/storeden/chats", headers=AUTH)
    assert response.status == status, await response.text()
    if type_ is not None:
        body = await problem(response, 502, type_)
        assert "more than 4096 bytes" in body["detail"]
        assert outcome(registry, "storeden", "list_chats", "200", "too_large") == 1
        assert mapping_failures(registry) == 0


# -- credentials echoed back ----------------------------------------------------------------

SECRET_KEY = "k3y/with+odd chars&é"


@pytest.mark.parametrize("form", [
    "raw", "json-slash", "json-unicode", "url-upper", "url-lower", "url-plus", "html", "base64",
])
async def test_an_echoed_credential_is_redacted_in_any_common_encoding(custom_gateway,
                                                                      emulators, form):
    import base64
    import html
    encode = {
        "raw": lambda s: s,
        "json-slash": lambda s: json.dumps(s, ensure_ascii=False)[1:-1].replace("/", "\\/"),
        "json-unicode": lambda s: json.dumps(s, ensure_ascii=True)[1:-1],
        "url-upper": lambda s: quote(s, safe=""),
        "url-lower": lambda s: quote(s, safe="").lower(),
        "url-plus": lambda s: quote(s, safe="/").replace("%20", "+"),
        "html": lambda s: html.escape(s).replace("/", "&#x2F;"),
        "base64": lambda s: base64.b64encode(s.encode()).decode(),
    }[form]
    gateway = await custom_gateway(env={"STOREDEN_KEY": SECRET_KEY})
    echo = f"bad key {encode(SECRET_KEY)} for this exchange"
    emulators.apps["storeden"][FAULTS].add(
        "status", status=403, body=json.dumps({"error": 1, "message": echo}).encode())
    response = await gateway.get("/v1/storeden/chats", headers=AUTH)
    text = await response.text()
    assert response.status == 502
    detail = json.loads(text)["detail"]
    assert detail == "storeden answered 403: bad key [redacted] for this exchange", detail


async def test_a_vendors_200_envelope_code_maps_to_404_over_http(gateway, emulators, registry):
    """Slack answers HTTP 200 {"ok": false, "error": "channel_not_found"}: a rule in its
    mapping makes that a 404 with the vendor's code in detail, counted as a refusal."""
    body = await problem(await gateway.get("/v1/slack/chats/C0NOPE123", headers=AUTH),
                         404, "not-found")
    assert body["detail"] == "slack answered 200 but reported a failure: channel_not_found"
    assert outcome(registry, "slack", "get_chat", "200", "envelope_error") == 1
    assert mapping_failures(registry) == 0


async def test_an_upstreams_cookies_are_never_sent_back(custom_gateway, gateway_env,
                                                          emulators):
    """One consumer's call must not carry what an upstream set for another: the gateway
    keeps no cookie jar. (The upstream is named `localhost`: aiohttp's jar ignores
    cookies from IP addresses, so 127.0.0.1 would hide a jar.)"""
    base = gateway_env["STOREDEN_BASE_URL"].replace("127.0.0.1", "localhost")
    gateway = await custom_gateway(env={"STOREDEN_BASE_URL": base})
    emulators.apps["storeden"][FAULTS].add(
        "status", status=200, body=b"[]",
        headers={"Set-Cookie": "session=abc123; Path=/"})
    assert (await gateway.get("/v1/storeden/chats", headers=AUTH)).status == 200
    assert (await gateway.get("/v1/storeden/chats", headers=AUTH)).status == 200
    first, second = recorded(emulators, "storeden")[-2:]
    assert "Cookie" not in first.headers and "Cookie" not in second.headers
