"""Slack emulator: RPC methods, HTTP 200 error envelopes, token cursors, ts ids."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from gateway.emulators import FAULTS, RECORDED, STORE
from gateway.emulators.slack import BOT_USER, HISTORY_PAGE_MAX


@pytest.fixture
async def client(make_client: Any) -> Any:
    return await make_client("slack")


@pytest.fixture
def headers(auth: dict[str, dict[str, str]]) -> dict[str, str]:
    return auth["slack"]


async def rpc(client: Any, method: str, headers: dict[str, str] | None = None, **args: Any) -> dict[str, Any]:
    response = await client.get(f"/api/{method}", params={k: str(v) for k, v in args.items()}, headers=headers)
    assert response.status == 200
    return await response.json()


@pytest.mark.parametrize("headers,params,error", [
    ({}, {}, "not_authed"),
    ({"Authorization": "Bearer xoxb-wrong"}, {}, "invalid_auth"),
    ({}, {"token": "xoxb-wrong"}, "invalid_auth"),
], ids=["none", "wrong-bearer", "wrong-token-arg"])
async def test_auth_errors_are_200_envelopes(client: Any, headers: dict, params: dict, error: str) -> None:
    assert await rpc(client, "auth.test", headers, **params) == {"ok": False, "error": error}


async def test_token_as_argument_and_auth_test(client: Any) -> None:
    answer = await rpc(client, "auth.test", token="xoxb-17-2024-demo-slack-bot-token")
    assert answer["ok"] is True and answer["user_id"] == BOT_USER and answer["team_id"].startswith("T")


async def test_history_walk_newest_first_pages_capped(client: Any, headers: dict[str, str]) -> None:
    seen: list[str] = []
    cursor = ""
    sizes = []
    while True:
        answer = await rpc(client, "conversations.history", headers, channel="C0GENERAL", limit=40, cursor=cursor)
        sizes.append(len(answer["messages"]))
        seen += [m["ts"] for m in answer["messages"]]
        if not answer["has_more"]:
            assert "response_metadata" not in answer
            break
        cursor = answer["response_metadata"]["next_cursor"]
    assert seen == client.app[STORE].message_ids_newest_first("C0GENERAL") and len(seen) == 130
    assert max(sizes) == HISTORY_PAGE_MAX < 40  # shorter pages than asked for while more exist
    assert all(len(ts.split(".")[1]) == 6 for ts in seen)


async def test_history_oldest_latest_inclusive(client: Any, headers: dict[str, str]) -> None:
    ids = client.app[STORE].message_ids_newest_first("D0ANA0001")
    newer = await rpc(client, "conversations.history", headers, channel="D0ANA0001", oldest=ids[3])
    assert [m["ts"] for m in newer["messages"]] == ids[:3]
    one = await rpc(client, "conversations.history", headers, channel="D0ANA0001", latest=ids[5],
                    inclusive="true", limit=1)
    assert [m["ts"] for m in one["messages"]] == [ids[5]] and one["has_more"] is True


async def test_conversations_list_types_and_short_pages(client: Any, headers: dict[str, str]) -> None:
    default = await rpc(client, "conversations.list", headers)
    assert {c["id"] for c in default["channels"]} == {"C0GENERAL", "C0RANDOM1", "C0ANNOUNC", "C0OLDPROJ"}
    assert default["response_metadata"]["next_cursor"] == ""
    walked, cursor, pages = [], "", 0
    while True:
        answer = await rpc(client, "conversations.list", headers, types="im", limit=2, cursor=cursor)
        walked += answer["channels"]
        pages += 1
        cursor = answer["response_metadata"]["next_cursor"]
        if not cursor:
            break
    assert [c["id"] for c in walked] == ["D0ANA0001", "D0BEN0002"] and pages == 4  # empty pages on the way
    assert all(c["is_im"] and c["user"].startswith("U") and "name" not in c for c in walked)


async def test_info_has_unread_for_ims_only(client: Any, headers: dict[str, str]) -> None:
    im = (await rpc(client, "conversations.info", headers, channel="D0ANA0001"))["channel"]
    assert im["unread_count"] >= 1 and im["latest"]["ts"] == client.app[STORE].message_ids_newest_first("D0ANA0001")[0]
    channel = (await rpc(client, "conversations.info", headers, channel="C0GENERAL"))["channel"]
    assert "user" not in channel and "unread_count" not in channel and channel["last_read"]


@pytest.mark.parametrize("method,args,error", [
    ("conversations.info", {"channel": "C0NOPE"}, "channel_not_found"),
    ("conversations.history", {"channel": "C0ANNOUNC"}, "not_in_channel"),
    ("conversations.history", {"channel": "C0GENERAL", "cursor": "bm9wZQ=="}, "invalid_cursor"),
    ("conversations.close", {"channel": "C0GENERAL"}, "method_not_supported_for_channel_type"),
    ("conversations.mark", {"channel": "C0GENERAL", "ts": "yesterday"}, "invalid_timestamp"),
    ("users.info", {"user": "U0NOBODY"}, "user_not_found"),
], ids=["not-found", "not-in-channel", "bad-cursor", "close-channel", "bad-ts", "no-user"])
async def test_errors_are_200_ok_false(client: Any, headers: dict[str, str], method: str, args: dict, error: str) -> None:
    assert await rpc(client, method, headers, **args) == {"ok": False, "error": error}


async def test_post_message_json_and_charset_warning(client: Any, headers: dict[str, str]) -> None:
    response = await client.post("/api/chat.postMessage", data='{"channel": "C0RANDOM1", "text": "a < b & c"}',
                                 headers={**headers, "Content-Type": "application/json"})
    answer = await response.json()
    assert answer["ok"] is True and answer["warning"] == "missing_charset"
    assert answer["message"]["text"] == "a &lt; b &amp; c" and answer["message"]["user"] == BOT_USER
    assert client.app[STORE].message_ids_newest_first("C0RANDOM1")[0] == answer["ts"]
    response = await client.post("/api/chat.postMessage", json={"channel": "C0RANDOM1", "text": "ok"},
                                 headers={**headers, "Content-Type": "application/json; charset=utf-8"})
    assert "warning" not in await response.json()
    assert client.app[RECORDED][-1].body == b'{"channel": "C0RANDOM1", "text": "ok"}'


@pytest.mark.parametrize("body,error", [
    ({"channel": "C0RANDOM1", "text": "x" * 40001}, "msg_too_long"),
    ({"channel": "C0RANDOM1"}, "no_text"),
    ({"channel": "C0ANNOUNC", "text": "hi"}, "not_in_channel"),
    ({"channel": "C0OLDPROJ", "text": "hi"}, "is_archived"),
    ({"channel": "C0NOPE", "text": "hi"}, "channel_not_found"),
], ids=["too-long", "no-text", "not-member", "archived", "no-channel"])
async def test_post_message_errors(client: Any, headers: dict[str, str], body: dict, error: str) -> None:
    response = await client.post("/api/chat.postMessage", json=body, headers=headers)
    assert response.status == 200 and (await response.json())["error"] == error


async def test_mark_and_close_im(client: Any, headers: dict[str, str]) -> None:
    newest = client.app[STORE].message_ids_newest_first("D0ANA0001")[0]
    assert await rpc(client, "conversations.mark", headers, channel="D0ANA0001", ts=newest) == {"ok": True}
    info = (await rpc(client, "conversations.info", headers, channel="D0ANA0001"))["channel"]
    assert info["last_read"] == newest and info["unread_count"] == 0
    assert await rpc(client, "conversations.close", headers, channel="D0ANA0001") == {"ok": True}
    again = await rpc(client, "conversations.close", headers, channel="D0ANA0001")
    assert again == {"ok": True, "no_op": True, "already_closed": True}


async def test_rate_limit_is_429_with_retry_after(client: Any, headers: dict[str, str]) -> None:
    client.app[FAULTS].add("status", status=429, body=b'{"ok": false, "error": "ratelimited"}',
                           headers={"Retry-After": "30"})
    response = await client.get("/api/conversations.list", headers=headers)
    assert response.status == 429 and response.headers["Retry-After"] == "30"
    assert (await response.json())["error"] == "ratelimited"


async def test_text_is_escaped_and_cursor_is_opaque_base64(client: Any, headers: dict[str, str]) -> None:
    answer = await rpc(client, "conversations.history", headers, channel="C0GENERAL", limit=1)
    cursor = answer["response_metadata"]["next_cursor"]
    assert base64.b64decode(cursor).decode().startswith("next_ts:")
    texts = [m["text"] for m in (await rpc(client, "conversations.history", headers, channel="C0GENERAL",
                                           limit=15))["messages"]]
    assert not any("<" in t and "<@" not in t for t in texts)
