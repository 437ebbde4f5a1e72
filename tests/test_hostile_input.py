"""Hostile canonical input: every case is a 400 problem naming the field, answered
before any upstream call (the emulators record none), never a 500. Ids reach upstream
paths escaped, and no path segment is ever `.` or `..`. Real HTTP end to end."""

from __future__ import annotations

import json

import pytest
from yarl import URL

from gateway.emulators import FAULTS
from tests.conftest import AUTH, recorded

SENDS = {"storeden": "49077", "smartsender": "7001", "superoffice": "341", "hapihub": "room-001"}


def calls(emulators) -> int:
    return sum(len(recorded(emulators, name)) for name in emulators.apps)


async def refused(response, field: str, status: int = 400) -> dict:
    assert response.status == status, await response.text()
    assert response.content_type == "application/problem+json"
    body = await response.json()
    kind = "/problems/invalid-request" if status == 400 else "/problems/not-found"
    assert body["type"] == kind and body["field"] == field, body
    return body


def nested(depth: int) -> bytes:
    return b'{"text": ' + b"[" * depth + b"]" * depth + b"}"


HOSTILE_BODIES = [
    (nested(100_000), "body"),
    (nested(900), "text"),  # parses, then fails the schema: the message must not repr it
    (b'{"text": "a\\u0000b"}', "text"),
    (b'{"text": "bell \\u0007 and vertical tab \\u000b"}', "text"),
    (b'{"text": "\\ufffe"}', "text"),
    (b'{"text": "\\ud800"}', "text"),
    (b'{"text": "ok \\udfff ok"}', "text"),
    (b'{"text": "hi", "media": [{"url": "https://cdn.example/\\ud800.png"}]}', "media.0.url"),
    (b'{"text": "hi", "media": [{"url": "https://cdn.example/\\u0000.png"}]}', "media.0.url"),
    (b'{"text": "' + b"9" * 5000 + b'", "media": 1' + b"0" * 5000 + b"}", "body"),
]


@pytest.mark.parametrize("upstream", ["smartsender", "storeden", "superoffice"])
@pytest.mark.parametrize("raw,field", HOSTILE_BODIES, ids=[
    "nested-100k", "nested-900", "nul", "controls", "ufffe", "surrogate", "low-surrogate",
    "surrogate-media-url", "nul-media-url", "5000-digit-number"])
async def test_hostile_send_bodies_are_400_before_any_upstream_call(gateway, emulators,
                                                                    upstream, raw, field):
    before = calls(emulators)
    response = await gateway.post(f"/v1/{upstream}/chats/{SENDS[upstream]}/messages", data=raw,
                                  headers={**AUTH, "Content-Type": "application/json"})
    body = await refused(response, field)
    assert len(body["detail"]) < 300  # never an echo of the input
    assert calls(emulators) == before  # the two-step send made no first call either


async def test_control_characters_in_an_assign_note_never_reach_an_upstream(gateway, emulators):
    response = await gateway.post("/v1/smartsender/chats/7001/assign",
                                  json={"operator_id": "42", "note": "x\x00"}, headers=AUTH)
    await refused(response, "note")
    assert calls(emulators) == 0


@pytest.mark.parametrize("limit", ["²", "٥", "５", "1" * 5000, "0" * 4999 + "5", "+5", " 5",
                                   "5 ", "-1", "1e2", "0x10"])
async def test_limit_is_ascii_digits_in_range(gateway, emulators, limit):
    response = await gateway.get("/v1/smartsender/chats", params={"limit": limit}, headers=AUTH)
    await refused(response, "limit")
    assert calls(emulators) == 0


@pytest.mark.parametrize("query,field", [
    ("q=a%00b", "q"), ("after=%0b", "after"), ("assignee=x%1fy", "assignee"),
])
async def test_control_characters_in_query_text_are_400(gateway, emulators, query, field):
    path = "chats" if field != "after" else "chats/room-001/messages"
    upstream = "superoffice" if field == "assignee" else "hapihub"
    response = await gateway.get(URL(f"/v1/{upstream}/{path}?{query}", encoded=True),
                                 headers=AUTH)
    await refused(response, field)
    assert calls(emulators) == 0


# -- dot-segments -------------------------------------------------------------------

DOTS = [".", "..", "%2e", "%2E%2e", "%252e%252E", ".%2e", "%2e.", "a%2F..", "..%5Cx"]


@pytest.mark.parametrize("segment", DOTS)
@pytest.mark.parametrize("template,field", [
    ("/v1/hapihub/chats/{}", "chat_id"),
    ("/v1/hapihub/chats/{}/messages", "chat_id"),
    ("/v1/hapihub/chats/room-001/messages/{}", "message_id"),
], ids=["get_chat", "list_messages", "get_message"])
async def test_client_ids_that_are_dot_segments_are_404(gateway, emulators, segment, template,
                                                        field):
    # hapihub's mapping has no `params` pattern: any id but these reaches its paths.
    # `.`/`..` are sent as %2E: sent literally, the client's URL library resolves them.
    sent = segment.replace(".", "%2E") if segment in (".", "..") else segment
    body = await refused(await gateway.get(URL(template.format(sent), encoded=True),
                                           headers=AUTH), field, 404)
    assert "cannot be . or .." in body["detail"]
    assert calls(emulators) == 0


@pytest.mark.parametrize("operator", ["..", "%2e%2E"])
async def test_an_operator_id_that_is_a_dot_segment_is_404(gateway, emulators, operator):
    # smartsender templates operator_id into its path; the dot check comes before its
    # mapping's pattern, so it holds for a mapping that has none
    response = await gateway.post("/v1/smartsender/chats/7001/assign",
                                  json={"operator_id": operator}, headers=AUTH)
    body = await refused(response, "operator_id", 404)  # no such operator there
    assert "cannot be . or .." in body["detail"]
    assert calls(emulators) == 0


@pytest.mark.parametrize("contact", ["..", ".", "%2e%2e", "%2E", "a/../..", "a%2F%2e%2e", "..\\x"])
async def test_a_dot_segment_from_an_earlier_answer_is_a_502_and_not_sent(gateway, emulators,
                                                                         contact):
    app = emulators.apps["smartsender"]
    chat = {"id": 7001, "name": "x", "contact": {"id": contact, "originalId": "1"},
            "unreadMessages": 0, "isClosed": False}
    app[FAULTS].add("status", status=200, path=r"^/v1/chats/7001$", body=json.dumps(chat).encode())
    response = await gateway.post("/v1/smartsender/chats/7001/messages", json={"text": "hi"},
                                  headers=AUTH)
    assert response.status == 502, await response.text()
    body = await response.json()
    assert body["type"] == "/problems/upstream-rejected"
    assert [r.method for r in recorded(emulators, "smartsender")] == ["GET"]


async def test_a_slash_in_an_earlier_answer_is_escaped_not_a_dot_segment(gateway, emulators):
    app = emulators.apps["smartsender"]
    chat = {"id": 7001, "name": "x", "contact": {"id": "a/b..c", "originalId": "1"},
            "unreadMessages": 0, "isClosed": False}
    app[FAULTS].add("status", status=200, path=r"^/v1/chats/7001$", body=json.dumps(chat).encode())
    await gateway.post("/v1/smartsender/chats/7001/messages", json={"text": "hi"}, headers=AUTH)
    sent = recorded(emulators, "smartsender")[-1]
    assert (sent.method, sent.raw_path) == ("POST", "/v1/contacts/a%2Fb..c/send")


# -- path parameter escaping ---------------------------------------------------------

@pytest.mark.parametrize("chat_id,raw", [
    ("a/b", "a%2Fb"), ("a b", "a%20b"), ("a?b", "a%3Fb"), ("a#b", "a%23b"), ("a%b", "a%25b"),
    ("caf\u00e9", "caf%C3%A9"), ("a;b=c", "a%3Bb%3Dc"), ("a..b", "a..b"),
], ids=["slash", "space", "question", "hash", "percent", "non-ascii", "semicolon", "dots-inside"])
async def test_path_ids_reach_the_upstream_escaped(gateway, emulators, chat_id, raw):
    from urllib.parse import quote
    response = await gateway.get(URL(f"/v1/hapihub/chats/{quote(chat_id, safe='')}",
                                     encoded=True), headers=AUTH)
    assert response.status == 404  # no such room; what matters is what the upstream got
    [sent] = recorded(emulators, "hapihub")
    assert sent.raw_path == f"/chat-rooms/{raw}"
    assert sent.path == f"/chat-rooms/{chat_id}"
