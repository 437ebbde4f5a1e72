"""Slack (token cursors, 200-but-failed envelopes) and GitHub (Link-header paging) through
the gateway over HTTP to their emulators: the canonical answers, and what each upstream
received (method, path, query, headers, body)."""

from __future__ import annotations

import json

import pytest

from gateway.emulators import FAULTS
from tests.test_vendors import assert_resource, call, query_of
from tests.conftest import store

SLACK_AUTH = "Bearer xoxb-17-2024-demo-slack-bot-token"
GITHUB_AUTH = "Bearer ghp_demoGatewayToken0123456789abcdef0000"


# -- Slack --------------------------------------------------------------------------

async def test_slack_history_walks_short_pages_by_token(gateway, emulators):
    status, data, sent = await call(gateway, emulators, "slack", "GET", "/chats/C0GENERAL/messages?limit=40")
    assert status == 200
    expected = store(emulators, "slack").message_ids_newest_first("C0GENERAL")
    assert [m["id"] for m in data["data"]] == expected[:40]
    assert [len(r.query) for r in sent] == [2, 3, 3]  # 15 + 15 + 10 of 15: three calls
    assert [query_of(r).get("cursor") is None for r in sent] == [True, False, False]
    assert all(query_of(r)["channel"] == "C0GENERAL" and query_of(r)["limit"] == "15" for r in sent)
    assert all(r.headers["Authorization"] == SLACK_AUTH for r in sent)
    for message in data["data"]:
        assert_resource("message", message)
        assert message["direction"] == ("outbound" if message["sender"]["id"] == "U0GWBOT01" else "inbound")
        assert "&lt;" not in message["text"] and "&amp;" not in message["text"]


async def test_slack_polling_sends_oldest(gateway, emulators):
    ids = store(emulators, "slack").message_ids_newest_first("D0ANA0001")
    status, data, sent = await call(gateway, emulators, "slack", "GET", f"/chats/D0ANA0001/messages?after={ids[4]}")
    assert status == 200 and [m["id"] for m in data["data"]] == ids[:4]
    [req] = sent
    assert query_of(req) == {"channel": "D0ANA0001", "oldest": ids[4], "limit": "15"}


async def test_slack_chats_dm_has_contact_channel_has_none(gateway, emulators):
    status, data, sent = await call(gateway, emulators, "slack", "GET", "/chats")
    assert status == 200
    chats = {c["id"]: c for c in data["data"]}
    assert list(chats) == store(emulators, "slack").chat_ids()
    assert chats["D0ANA0001"]["contact"] == {"id": "U0ANA0001", "name": None}
    assert chats["C0GENERAL"]["contact"] is None and chats["C0OLDPROJ"]["state"] == "closed"
    assert query_of(sent[0])["types"] == "public_channel,private_channel,im"
    status, data, _ = await call(gateway, emulators, "slack", "GET", "/chats?state=closed")
    assert [c["id"] for c in data["data"]] == ["C0OLDPROJ"]


async def test_slack_get_chat_and_message(gateway, emulators):
    status, chat, _ = await call(gateway, emulators, "slack", "GET", "/chats/D0ANA0001")
    assert status == 200 and chat["unread_count"] >= 1 and chat["last_message"]["text"]
    ids = store(emulators, "slack").message_ids_newest_first("D0ANA0001")
    status, message, sent = await call(gateway, emulators, "slack", "GET", f"/chats/D0ANA0001/messages/{ids[3]}")
    assert status == 200 and message["id"] == ids[3]
    assert query_of(sent[0]) == {"channel": "D0ANA0001", "latest": ids[3], "inclusive": "true", "limit": "1"}
    missing = "1000000000.000001"
    status, _, _ = await call(gateway, emulators, "slack", "GET", f"/chats/D0ANA0001/messages/{missing}")
    assert status == 404


async def test_slack_send_declares_its_charset(gateway, emulators):
    status, message, sent = await call(gateway, emulators, "slack", "POST", "/chats/C0RANDOM1/messages",
                                       {"text": "Fee < $5 & done ✅"})
    assert status == 201 and message["text"] == "Fee < $5 & done ✅" and message["direction"] == "outbound"
    [req] = sent
    assert (req.method, req.path) == ("POST", "/api/chat.postMessage")
    assert req.headers["Content-Type"] == "application/json; charset=utf-8"
    assert json.loads(req.body) == {"channel": "C0RANDOM1", "text": "Fee < $5 & done ✅"}
    assert store(emulators, "slack").message_ids_newest_first("C0RANDOM1")[0] == message["id"]


async def test_slack_mark_read_marks_the_newest(gateway, emulators):
    newest = store(emulators, "slack").message_ids_newest_first("D0ANA0001")[0]
    status, _, sent = await call(gateway, emulators, "slack", "POST", "/chats/D0ANA0001/read")
    assert status == 204
    assert [r.path for r in sent] == ["/api/conversations.history", "/api/conversations.mark"]
    assert json.loads(sent[1].body) == {"channel": "D0ANA0001", "ts": newest}
    status, chat, _ = await call(gateway, emulators, "slack", "GET", "/chats/D0ANA0001")
    assert chat["unread_count"] == 0


async def test_slack_mark_message_seen_and_close_dm(gateway, emulators):
    ids = store(emulators, "slack").message_ids_newest_first("D0ANA0001")
    status, message, sent = await call(gateway, emulators, "slack", "PATCH", f"/chats/D0ANA0001/messages/{ids[2]}",
                                       {"seen": True})
    assert status == 200 and message["id"] == ids[2]
    assert json.loads(sent[1].body) == {"channel": "D0ANA0001", "ts": ids[2]}
    status, _, sent = await call(gateway, emulators, "slack", "POST", "/chats/D0ANA0001/close")
    assert status == 204 and json.loads(sent[0].body) == {"channel": "D0ANA0001"}


@pytest.mark.parametrize("method,path,error,answer", [
    ("GET", "/chats/C0NOPE9/messages", "channel_not_found", 404),
    ("GET", "/chats/C0ANNOUNC/messages", "not_in_channel", 409),
    ("POST", "/chats/C0GENERAL/close", "method_not_supported_for_channel_type", 409),
    ("PATCH", "/chats/D0ANA0001/messages/1000000000.000001", "invalid_timestamp", 404),
], ids=["not-found", "not-in-channel", "close-a-channel", "seen-missing-message"])
async def test_slack_ok_false_is_never_a_success(gateway, emulators, method, path, error, answer):
    body = {"seen": True} if method == "PATCH" else None
    status, data, _ = await call(gateway, emulators, "slack", method, path, body)
    assert status == answer and error in data["detail"]


async def test_slack_rate_limit_passes_retry_after(gateway, emulators):
    emulators.apps["slack"][FAULTS].add("status", status=429, body=b'{"ok": false, "error": "ratelimited"}',
                                        headers={"Retry-After": "30"})
    response = await gateway.get("/v1/slack/chats", headers={"Authorization": "Bearer test-api-key-0123456789"})
    assert response.status == 429 and response.headers["Retry-After"] == "30"


# -- GitHub ---------------------------------------------------------------------------

async def test_github_comments_of_one_page_come_newest_first_in_one_call(gateway, emulators):
    status, data, sent = await call(gateway, emulators, "github", "GET", "/chats/1/messages?limit=100")
    assert status == 200
    expected = store(emulators, "github").message_ids_newest_first("1")
    assert [m["id"] for m in data["data"]] == expected and data["next_cursor"] is None
    [req] = sent  # no rel="last": the first page is the only one, served reversed
    assert req.path == "/repos/acme/support/issues/1/comments" and query_of(req) == {"per_page": "100"}
    assert req.headers["Authorization"] == GITHUB_AUTH
    assert req.headers["Accept"] == "application/vnd.github+json"
    assert req.headers["X-GitHub-Api-Version"] == "2022-11-28"
    for message in data["data"]:
        assert_resource("message", message)


async def test_github_comments_walk_back_from_the_last_page(gateway, emulators):
    """250 comments, 100 a page: page 1 is read for rel="last", then pages 3, 2 by
    rel="prev"; page 1 is served from the first read — 3 calls for the whole list."""
    data = store(emulators, "github")
    data.seed_messages("4242", 250)
    expected = data.message_ids_newest_first("4242")
    status, body, sent = await call(gateway, emulators, "github", "GET", "/chats/4242/messages?limit=100")
    assert [m["id"] for m in body["data"]] == expected[:100]
    assert [query_of(r).get("page") for r in sent] == [None, "3", "2"]
    assert all(r.path == "/repositories/1300192/issues/4242/comments" for r in sent[1:])

    # a comment arrives while the client walks: page 2 is full, nothing shifts
    new = data.add_message("4242", "late")
    status, more, sent = await call(gateway, emulators, "github", "GET",
                                    f"/chats/4242/messages?limit=100&cursor={body['next_cursor']}")
    assert [m["id"] for m in more["data"]] == expected[100:200]
    assert [query_of(r).get("page") for r in sent] == ["2", "1"]
    status, rest, sent = await call(gateway, emulators, "github", "GET",
                                    f"/chats/4242/messages?limit=100&cursor={more['next_cursor']}")
    assert [m["id"] for m in rest["data"]] == expected[200:] and rest["next_cursor"] is None
    assert [query_of(r).get("page") for r in sent] == ["1"]

    # polling from the newest seen: just the new one (page 1 for rel="last", then page 3)
    status, polled, sent = await call(gateway, emulators, "github", "GET",
                                      f"/chats/4242/messages?after={expected[0]}")
    assert [m["id"] for m in polled["data"]] == [new] and polled["next_cursor"] is None
    assert [query_of(r).get("page") for r in sent] == [None, "3"]

    # 150 comments by 100: page 1 read for rel="last", page 2, page 1 again from that read
    data.seed_messages("4242", 150)
    status, body, sent = await call(gateway, emulators, "github", "GET", "/chats/4242/messages?limit=100")
    assert [m["id"] for m in body["data"]] == data.message_ids_newest_first("4242")[:100]
    assert [query_of(r).get("page") for r in sent] == [None, "2"]


async def test_github_chats_follow_repository_id_links(gateway, emulators):
    store(emulators, "github").seed_chats(130)
    expected = store(emulators, "github").chat_ids()
    status, data, sent = await call(gateway, emulators, "github", "GET", "/chats?limit=100")
    ids = [c["id"] for c in data["data"]]
    status, data, more = await call(gateway, emulators, "github", "GET", f"/chats?limit=100&cursor={data['next_cursor']}")
    assert ids + [c["id"] for c in data["data"]] == expected
    assert [r.path for r in sent + more] == ["/repos/acme/support/issues", "/repositories/1300192/issues"]
    assert query_of(more[0]) == {"state": "all", "per_page": "100", "page": "2"}


async def test_github_send_close_assign(gateway, emulators):
    status, message, sent = await call(gateway, emulators, "github", "POST", "/chats/5/messages", {"text": "On it 👀"})
    assert status == 201 and message["text"] == "On it 👀" and message["direction"] == "outbound"
    assert json.loads(sent[0].body) == {"body": "On it 👀"}
    status, _, sent = await call(gateway, emulators, "github", "POST", "/chats/5/close")
    assert status == 204 and sent[0].method == "PATCH"
    assert json.loads(sent[0].body) == {"state": "closed", "state_reason": "completed"}
    status, chat, _ = await call(gateway, emulators, "github", "GET", "/chats/5")
    assert chat["state"] == "closed"
    status, _, sent = await call(gateway, emulators, "github", "POST", "/chats/2/assign", {"operator_id": "mona-support"})
    assert status == 204 and json.loads(sent[0].body) == {"assignees": ["mona-support"]}
    status, chat, _ = await call(gateway, emulators, "github", "GET", "/chats/2")
    assert chat["assignee_id"] == "mona-support"


@pytest.mark.parametrize("method,path,status", [
    ("GET", "/chats/6", 404),                       # 410 deleted
    ("GET", "/chats/999", 404),
    ("GET", "/chats/3/messages/1500000077", 404),   # a comment of issue 2
    ("GET", "/chats/3/messages?after=1500000077", 404),  # a comment of issue 2
    ("GET", "/chats/1/messages?after=abc", 404),     # not an id github can have
    ("POST", "/chats/1/read", 501),
], ids=["deleted", "missing", "other-issue-comment", "after-other-issue", "after-not-an-id",
        "read-unsupported"])
async def test_github_errors(gateway, emulators, method, path, status):
    got, data, _ = await call(gateway, emulators, "github", method, path)
    assert got == status, data


async def test_github_spent_quota_is_429(gateway, emulators):
    body = b'{"message": "API rate limit exceeded for user ID 583231.", "status": "403"}'
    emulators.apps["github"][FAULTS].add("status", status=403, body=body, headers={"X-RateLimit-Remaining": "0"})
    status, data, _ = await call(gateway, emulators, "github", "GET", "/chats")
    assert status == 429 and "rate limit" in data["detail"]
