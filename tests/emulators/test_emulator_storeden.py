"""Storeden emulator: key+exchange auth, absolute next_page, form-encoded send, 509."""

from __future__ import annotations

import re
from typing import Any

import pytest
from yarl import URL

from gateway.emulators import RECORDED, STORE

BASE = "/v1.1"


@pytest.fixture
async def client(make_client: Any) -> Any:
    return await make_client("storeden")


@pytest.fixture
def headers(auth: dict[str, dict[str, str]]) -> dict[str, str]:
    return auth["storeden"]


@pytest.mark.parametrize(
    "sent",
    [{}, {"key": "demo-storeden-key"}, {"key": "demo-storeden-key", "exchange": "other"}],
    ids=["none", "key-only", "wrong-exchange"],
)
async def test_both_credential_headers_required(client: Any, sent: dict[str, str]) -> None:
    response = await client.get(f"{BASE}/messages/chat_list.json", headers=sent)
    assert response.status == 401
    assert await response.json() == {"error": 401, "message": "Invalid credentials"}


async def test_chat_list_is_a_bare_array_with_the_doc_rows(client: Any, headers: dict[str, str]) -> None:
    rows = await (await client.get(f"{BASE}/messages/chat_list.json", headers=headers)).json()
    assert [str(row["with_id"]) for row in rows] == client.app[STORE].chat_ids()
    assert rows[0] == {
        "name": "Test User",
        "with_id": 48617,
        "last_message_at": "2015-09-29T16:30:05+0200",
        "last_message_content": "ciao",
    }
    assert rows[1]["name"] == "James Bond" and rows[1]["last_message_at"] == "2018-10-11T10:26:18+0200"


async def test_walk_absolute_next_page_until_it_is_absent(client: Any, headers: dict[str, str]) -> None:
    url, pages, ids = f"{BASE}/messages/chat.json?with_id=49077", [], []
    while url:
        body = await (await client.get(url, headers=headers)).json()
        pages.append(body)
        ids += [message["message_id"] for message in body["messages"]]
        url = body.get("next_page")
        if url:
            absolute = URL(url)
            assert (absolute.scheme, absolute.host, absolute.port) == ("http", "127.0.0.1", client.port)
            assert absolute.path == f"{BASE}/messages/chat.json" and absolute.query["page"] == str(len(pages) + 1)
            url = absolute.path_qs
    assert [len(page["messages"]) for page in pages] == [30, 30, 30, 10]
    assert "next_page" not in pages[-1]
    assert ids == client.app[STORE].message_ids_newest_first("49077")
    assert pages[0]["messages"][0] == {
        "from_id": 132,
        "from_myself": True,
        "message": "Lorem Ipsum 4",
        "send_date": "2018-10-11T10:26:18+0200",
        "message_id": "5bbf092a16f46a0119e55a80",
        "read_by": {"myself_id": "2018-10-26T23:11:44+0200", "with_id": ""},
    }
    assert pages[-1]["messages"][-1]["message"] == "test message"
    offsets = {message["send_date"][-5:] for page in pages for message in page["messages"]}
    assert offsets == {"+0100", "+0200"}
    assert all(re.fullmatch(r"[0-9a-f]{24}", message_id) for message_id in ids)


async def test_page_past_the_end_and_errors(client: Any, headers: dict[str, str]) -> None:
    past = await (await client.get(f"{BASE}/messages/chat.json?with_id=49077&page=9", headers=headers)).json()
    assert past == {"messages": []}
    small = await (await client.get(f"{BASE}/messages/chat.json?with_id=48617", headers=headers)).json()
    assert len(small["messages"]) == 3 and "next_page" not in small
    missing = await client.get(f"{BASE}/messages/chat.json?with_id=1", headers=headers)
    assert missing.status == 404 and await missing.json() == {"error": 404, "message": "Conversation not found"}
    for query in ("with_id=abc", "", "with_id=49077&page=0"):
        response = await client.get(f"{BASE}/messages/chat.json?{query}", headers=headers)
        body = await response.json()
        assert response.status == 400 and body["error"] == 400 and body["message"]


async def test_send_requires_a_form_body(client: Any, headers: dict[str, str]) -> None:
    response = await client.post(f"{BASE}/messages/chat.json", data={"with_id": "49077", "message": "Ciao! 🇮🇹"}, headers=headers)
    message_id = (await response.json())["message_id"]
    assert re.fullmatch(r"[0-9a-f]{24}", message_id)
    assert client.app[STORE].message_ids_newest_first("49077")[0] == message_id
    newest = (await (await client.get(f"{BASE}/messages/chat.json?with_id=49077", headers=headers)).json())["messages"][0]
    assert newest["message"] == "Ciao! 🇮🇹" and newest["from_myself"] is True and newest["read_by"]["with_id"] == ""
    assert client.app[RECORDED][0].headers["Content-Type"] == "application/x-www-form-urlencoded"


@pytest.mark.parametrize(
    ("kwargs", "status"),
    [
        ({"json": {"with_id": 49077, "message": "json is refused"}}, 400),
        ({"data": {"with_id": "49077"}}, 400),
        ({"data": {"message": "no with_id"}}, 400),
        ({"data": {"with_id": "x", "message": "hi"}}, 400),
        ({"data": {"with_id": "1", "message": "hi"}}, 404),
    ],
    ids=["json-body", "no-message", "no-with_id", "bad-with_id", "unknown"],
)
async def test_send_errors(client: Any, headers: dict[str, str], kwargs: dict[str, Any], status: int) -> None:
    response = await client.post(f"{BASE}/messages/chat.json", headers=headers, **kwargs)
    assert response.status == status
    assert (await response.json())["error"] == status


async def test_daily_limit_answers_509(make_client: Any, headers: dict[str, str]) -> None:
    client = await make_client("storeden", daily_limit=2)
    for _ in range(2):
        assert (await client.get(f"{BASE}/messages/chat_list.json", headers=headers)).status == 200
    response = await client.get(f"{BASE}/messages/chat_list.json", headers=headers)
    assert response.status == 509 and response.content_type == "text/plain"
    assert await response.text() == "Limit Exceeded"
