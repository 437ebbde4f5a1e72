"""Every operation of every upstream, through the gateway over HTTP to the emulators.

Each case asserts the canonical answer (status, shape per the OpenAPI schemas, values)
and what the emulator received: method, path, query, auth headers, body encoding.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qs

import pytest
from jsonschema import Draft202012Validator
from lxml import etree

from gateway.canonical import RESOURCE_SCHEMAS
from tests.conftest import AUTH, recorded, store

VALIDATORS = {name: Draft202012Validator(schema) for name, schema in RESOURCE_SCHEMAS.items()}


def assert_resource(kind: str, data: dict) -> None:
    errors = [e.message for e in VALIDATORS[kind].iter_errors(data)]
    assert not errors, (kind, errors, data)


async def call(gateway, emulators, upstream, method, path, body=None, headers=None):
    """Call the gateway; return (status, json or None, new upstream requests)."""
    log = recorded(emulators, upstream)
    mark = len(log)
    response = await gateway.request(method, f"/v1/{upstream}{path}", json=body,
                                     headers={**AUTH, **(headers or {})})
    data = await response.json() if response.status != 204 else None
    if response.status >= 400:
        assert response.content_type == "application/problem+json"
    return response.status, data, log[mark:]


def query_of(req) -> dict[str, str]:
    return dict(req.query)


# -- Spurtcommerce: XML envelopes, no paging, no send -------------------------------

async def test_spurtcommerce_profile(gateway, emulators):
    status, data, sent = await call(gateway, emulators, "spurtcommerce", "GET", "/me",
                                    headers={"X-Request-ID": "req-profile-1"})
    assert status == 200
    assert_resource("profile", data)
    assert data["id"] == "314" and "@" in data["email"]
    [req] = sent
    assert (req.method, req.path) == ("GET", "/backend/api/chat-vendor")
    assert req.headers["Authorization"] == "Bearer demo-spurtcommerce-jwt"
    assert "xml" in req.headers["Accept"]
    assert req.headers["X-Request-ID"] == "req-profile-1"


async def test_spurtcommerce_chats_and_messages(gateway, emulators):
    status, data, sent = await call(gateway, emulators, "spurtcommerce", "GET", "/chats")
    assert status == 200
    assert [c["id"] for c in data["data"]] == store(emulators, "spurtcommerce").chat_ids()
    assert sent[0].path == "/backend/api/chat-vendor/admin-list"
    chat = data["data"][0]["id"]
    status, data, sent = await call(gateway, emulators, "spurtcommerce", "GET",
                                    f"/chats/{chat}/messages?limit=7")
    assert status == 200
    expected = store(emulators, "spurtcommerce").message_ids_newest_first(chat)[:7]
    assert [m["id"] for m in data["data"]] == expected
    for message in data["data"]:
        assert_resource("message", message)
        assert message["chat_id"] == chat and message["text"]
        assert message["direction"] == ("inbound" if message["sender"]["id"] == chat else "outbound")
    [req] = sent
    assert req.path == "/backend/api/chat-vendor/chat-history"
    assert query_of(req) == {"userId": chat}


async def test_spurtcommerce_send_is_not_faked(gateway, emulators):
    status, data, sent = await call(gateway, emulators, "spurtcommerce", "POST",
                                    "/chats/1/messages", {"text": "hello"})
    assert status == 501 and sent == []
    assert data["type"] == "/problems/not-implemented"
    assert (data["upstream"], data["operation"]) == ("spurtcommerce", "send_message")


@pytest.mark.parametrize("body,content_type", [
    (b'{"status": 0, "message": "you dont have access for it, please enable addon"}',
     "application/json"),
    (b'<?xml version="1.0"?><object><status>0</status><message>you dont have access for it, '
     b'please enable addon</message></object>', "application/xml"),
], ids=["json", "xml"])
async def test_spurtcommerce_200_but_failed_is_502(gateway, emulators, body, content_type):
    from gateway.emulators import FAULTS
    emulators.apps["spurtcommerce"][FAULTS].add("status", status=200, body=body,
                                                content_type=content_type)
    status, data, _ = await call(gateway, emulators, "spurtcommerce", "GET", "/chats")
    assert status == 502
    assert "enable addon" in data["detail"]


async def test_spurtcommerce_unknown_user_is_404(gateway, emulators):
    status, data, _ = await call(gateway, emulators, "spurtcommerce", "GET",
                                 "/chats/424242/messages")
    assert status == 404
    assert "Invalid UserId" in data["detail"]


# -- Smart Sender: page/limitation, two-step send ------------------------------------

@pytest.mark.parametrize("query,expected", [
    ("q=Taras", {"term": "Taras"}),
    ("state=closed", {"state": "closed"}),
    ("unread=true", {"selector[name]": "unread"}),
    ("assignee=501", {"selector[name]": "private", "selector[operatorId]": "501"}),
], ids=["q", "state", "unread", "assignee"])
async def test_smartsender_chat_filters_are_native(gateway, emulators, query, expected):
    status, data, sent = await call(gateway, emulators, "smartsender", "GET", f"/chats?{query}")
    assert status == 200
    [req] = sent
    assert req.path == "/v1/chats"
    assert query_of(req) == {"page": "1", "limitation": "20", **expected}
    for chat in data["data"]:
        assert_resource("chat", chat)
    if "state" in expected:
        assert {c["state"] for c in data["data"]} <= {"closed"}
    if "unread" in query:
        assert all(c["unread_count"] > 0 for c in data["data"])


async def test_smartsender_get_chat(gateway, emulators):
    status, data, sent = await call(gateway, emulators, "smartsender", "GET", "/chats/7001")
    assert status == 200
    assert_resource("chat", data)
    assert data["id"] == "7001" and data["contact"]["id"] == "9001"
    assert data["created_at"].endswith("Z")
    assert sent[0].headers["Authorization"] == "Bearer demo-smartsender-token"


async def test_smartsender_messages_newest_first(gateway, emulators):
    status, data, sent = await call(gateway, emulators, "smartsender", "GET",
                                    "/chats/7001/messages?limit=25")
    assert status == 200
    assert [m["id"] for m in data["data"]] == \
        store(emulators, "smartsender").message_ids_newest_first("7001")[:25]
    assert [query_of(r) for r in sent] == [{"page": "1", "limitation": "20"},
                                           {"page": "2", "limitation": "20"}]
    assert data["next_cursor"]


async def test_smartsender_send_reads_the_contact_then_sends(gateway, emulators):
    status, data, sent = await call(gateway, emulators, "smartsender", "POST",
                                    "/chats/7001/messages", {"text": "Привіт 👋"})
    assert status == 201
    assert_resource("message", data)
    assert data["text"] == "Привіт 👋" and data["direction"] == "outbound"
    assert [(r.method, r.path) for r in sent] == [("GET", "/v1/chats/7001"),
                                                  ("POST", "/v1/contacts/9001/send")]
    assert sent[1].headers["Content-Type"].startswith("application/json")
    assert json.loads(sent[1].body) == {"type": "text", "content": "Привіт 👋"}


async def test_smartsender_send_with_image(gateway, emulators):
    body = {"text": "see", "media": [{"url": "https://cdn.example/a.png", "type": "image"}]}
    status, data, sent = await call(gateway, emulators, "smartsender", "POST",
                                    "/chats/7001/messages", body)
    assert status == 201
    assert json.loads(sent[1].body) == {"type": "picture", "content": "see",
                                        "media": "https://cdn.example/a.png"}
    assert data["media"] == [{"url": "https://cdn.example/a.png", "type": "image"}]


@pytest.mark.parametrize("path,body,upstream_call", [
    ("/chats/7001/read", None, ("PUT", "/v1/chats/7001/read", None)),
    ("/chats/7001/close", None, ("PUT", "/v1/chats/7001/close", None)),
    ("/chats/7001/assign", {"operator_id": "502", "note": "VIP"},
     ("POST", "/v1/chats/7001/forward/502", {"text": "VIP"})),
], ids=["read", "close", "assign"])
async def test_smartsender_chat_actions(gateway, emulators, path, body, upstream_call):
    status, data, sent = await call(gateway, emulators, "smartsender", "POST", path, body)
    assert status == 204, data
    [req] = sent
    assert (req.method, req.path) == upstream_call[:2]
    if upstream_call[2] is not None:
        assert json.loads(req.body) == upstream_call[2]


async def test_smartsender_unknown_chat_is_404(gateway, emulators):
    status, data, _ = await call(gateway, emulators, "smartsender", "GET", "/chats/999999")
    assert status == 404 and data["detail"] == "smartsender answered 404: Chat not found"


# -- Storeden: key/exchange headers, form bodies, next-page URLs ---------------------

async def test_storeden_chats(gateway, emulators):
    status, data, sent = await call(gateway, emulators, "storeden", "GET", "/chats")
    assert status == 200
    bond = next(c for c in data["data"] if c["id"] == "49077")
    assert bond["title"] == "James Bond"
    assert bond["last_message"] == {"text": "Lorem Ipsum 4", "sent_at": "2018-10-11T08:26:18Z"}
    [req] = sent
    assert req.path == "/v1.1/messages/chat_list.json"
    assert (req.headers["key"], req.headers["exchange"]) == ("demo-storeden-key",
                                                             "demo-storeden-exchange")
    assert "Authorization" not in req.headers


async def test_storeden_messages_dates_and_direction(gateway, emulators):
    status, data, sent = await call(gateway, emulators, "storeden", "GET",
                                    "/chats/49077/messages?limit=35")
    assert status == 200
    first = data["data"][0]
    assert first["id"] == "5bbf092a16f46a0119e55a80"
    assert first["sent_at"] == "2018-10-11T08:26:18Z"  # +0200 in the seed
    assert first["direction"] == "outbound" and first["read"] is False
    assert [m["id"] for m in data["data"]] == \
        store(emulators, "storeden").message_ids_newest_first("49077")[:35]
    assert query_of(sent[0]) == {"with_id": "49077"}
    assert query_of(sent[1]) == {"with_id": "49077", "page": "2"}  # followed next_page


async def test_storeden_send_is_a_form(gateway, emulators):
    status, data, sent = await call(gateway, emulators, "storeden", "POST",
                                    "/chats/49077/messages", {"text": "Ciao! 🍕 & più"})
    assert status == 201
    assert_resource("message", data)
    [req] = sent
    assert req.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert parse_qs(req.body.decode()) == {"with_id": ["49077"], "message": ["Ciao! 🍕 & più"]}
    assert store(emulators, "storeden").message_ids_newest_first("49077")[0] == data["id"]


async def test_storeden_non_numeric_chat_is_404_without_upstream_call(gateway, emulators):
    # an id storeden cannot have names no chat there: 404 naming the field, no call
    status, data, sent = await call(gateway, emulators, "storeden", "GET", "/chats/abc/messages")
    assert status == 404 and data["field"] == "chat_id" and sent == []


# -- SuperOffice: XML both ways, native after, TransferTo ----------------------------

async def test_superoffice_messages_xml(gateway, emulators):
    status, data, sent = await call(gateway, emulators, "superoffice", "GET",
                                    "/chats/341/messages?limit=3")
    assert status == 200
    ids = store(emulators, "superoffice").message_ids_newest_first("341")
    assert [m["id"] for m in data["data"]] == ids[:3]
    for message in data["data"]:
        assert_resource("message", message)
    [req] = sent
    assert req.path == "/api/v1/ChatSession/341/Messages"
    assert req.headers["Accept"] == "application/xml"
    assert req.headers["Authorization"] == "SoTicket 7T:ZGVtbw=="


async def test_superoffice_after_is_native(gateway, emulators):
    ids = store(emulators, "superoffice").message_ids_newest_first("341")
    status, data, sent = await call(gateway, emulators, "superoffice", "GET",
                                    f"/chats/341/messages?after={ids[3]}")
    assert status == 200
    assert [m["id"] for m in data["data"]] == ids[:3]
    assert query_of(sent[0]) == {"after": ids[3]}


async def test_superoffice_send_xml_body(gateway, emulators):
    status, data, sent = await call(gateway, emulators, "superoffice", "POST",
                                    "/chats/341/messages", {"text": "Hei <du> & 🎿"})
    assert status == 201, data
    assert_resource("message", data)
    assert data["text"] == "Hei <du> & 🎿" and data["direction"] == "outbound"
    [req] = sent
    assert req.headers["Content-Type"] == "application/xml"
    root = etree.fromstring(req.body)
    assert etree.QName(root).localname == "ChatMessage"
    fields = {etree.QName(e).localname: e.text for e in root}
    assert fields == {"ChatSessionId": "341", "Type": "ToCustomer", "Message": "Hei <du> & 🎿"}


async def test_superoffice_chat_and_transfer(gateway, emulators):
    status, data, _ = await call(gateway, emulators, "superoffice", "GET", "/chats/341")
    assert status == 200 and data["title"] == "Kari Nordmann"
    status, data, sent = await call(gateway, emulators, "superoffice", "POST", "/chats/341/assign",
                                    {"operator_id": "7"})
    assert status == 204
    assert (sent[0].method, sent[0].path) == ("POST", "/api/v1/ChatSession/341/TransferTo/7")
    _, data, _ = await call(gateway, emulators, "superoffice", "GET", "/chats/341")
    assert data["assignee_id"] == "7"


async def test_superoffice_missing_session_is_404(gateway, emulators):
    status, data, _ = await call(gateway, emulators, "superoffice", "GET", "/chats/999")
    assert status == 404 and "not found" in data["detail"]


# -- HapiHub: Feathers queries, epoch ms ---------------------------------------------

async def test_hapihub_messages(gateway, emulators):
    status, data, sent = await call(gateway, emulators, "hapihub", "GET",
                                    "/chats/room-001/messages?limit=5")
    assert status == 200
    assert [m["id"] for m in data["data"]] == \
        store(emulators, "hapihub").message_ids_newest_first("room-001")[:5]
    assert {m["direction"] for m in data["data"]} <= {"inbound", "outbound"}
    assert query_of(sent[0]) == {"room": "room-001", "$sort[createdAt]": "-1",
                                 "$skip": "0", "$limit": "6"}


async def test_hapihub_get_send_and_seen(gateway, emulators):
    status, sent_msg, req = await call(gateway, emulators, "hapihub", "POST",
                                       "/chats/room-002/messages", {"text": "Kumusta? 😊"})
    assert status == 201 and sent_msg["direction"] == "outbound"
    assert json.loads(req[0].body) == {"room": "room-002", "text": "Kumusta? 😊"}
    message_id = sent_msg["id"]
    status, data, _ = await call(gateway, emulators, "hapihub", "GET",
                                 f"/chats/room-002/messages/{message_id}")
    assert status == 200 and data == sent_msg
    status, data, reqs = await call(gateway, emulators, "hapihub", "PATCH",
                                    f"/chats/room-002/messages/{message_id}", {"seen": True})
    assert status == 200 and data["read"] is True
    assert [(r.method, r.path) for r in reqs] == [("GET", f"/chat-messages/{message_id}"),
                                                  ("PATCH", f"/chat-messages/{message_id}")]
    assert json.loads(reqs[1].body) == {"seen": True}


async def test_hapihub_message_of_another_chat_is_404(gateway, emulators):
    message_id = store(emulators, "hapihub").message_ids_newest_first("room-001")[0]
    status, _, _ = await call(gateway, emulators, "hapihub", "GET",
                              f"/chats/room-002/messages/{message_id}")
    assert status == 404
    status, _, reqs = await call(gateway, emulators, "hapihub", "PATCH",
                                 f"/chats/room-002/messages/{message_id}", {"seen": True})
    assert status == 404 and [r.method for r in reqs] == ["GET"]  # nothing was patched


@pytest.mark.parametrize("upstream,path", [
    ("storeden", "/me"), ("storeden", "/chats/49077"), ("hapihub", "/me"),
    ("superoffice", "/me"), ("smartsender", "/me"),
])
async def test_unsupported_operations_are_501(gateway, emulators, upstream, path):
    status, data, sent = await call(gateway, emulators, upstream, "GET", path)
    assert status == 501 and sent == []
    assert data["upstream"] == upstream
