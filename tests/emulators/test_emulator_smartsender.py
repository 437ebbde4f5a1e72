"""Smart Sender emulator: page/limitation paging, chat filters, send-to-contact."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest

from gateway.emulators import RECORDED, STORE

BASE = "/v1"


@pytest.fixture
async def client(make_client: Any) -> Any:
    return await make_client("smartsender")


@pytest.fixture
def headers(auth: dict[str, dict[str, str]]) -> dict[str, str]:
    return auth["smartsender"]


async def test_unauthorized(client: Any) -> None:
    response = await client.get(f"{BASE}/chats", headers={"Authorization": "Bearer wrong"})
    assert response.status == 401
    assert await response.json() == {"error": "Unauthorized"}


@pytest.mark.parametrize("query", ["limitation=21", "limitation=0", "page=0", "page=x", "limitation=1.5"])
async def test_page_limits_enforced(client: Any, headers: dict[str, str], query: str) -> None:
    for path in ("/chats", "/chats/7001/messages"):
        response = await client.get(f"{BASE}{path}?{query}", headers=headers)
        assert response.status == 422
        assert "error" in await response.json()


async def test_walk_messages_newest_first(client: Any, headers: dict[str, str]) -> None:
    ids, page, pages = [], 1, 1
    while page <= pages:
        query = {"page": page, "limitation": 20}
        body = await (await client.get(f"{BASE}/chats/7001/messages", params=query, headers=headers)).json()
        assert len(body["collection"]) <= 20
        ids += [str(message["id"]) for message in body["collection"]]
        pages, page = body["cursor"]["pages"], page + 1
    assert pages == 4
    assert ids == client.app[STORE].message_ids_newest_first("7001")
    past_end = await (await client.get(f"{BASE}/chats/7001/messages?page=5&limitation=20", headers=headers)).json()
    assert past_end == {"cursor": {"page": 5, "pages": 4}, "collection": []}


async def test_message_shape_and_dates(client: Any, headers: dict[str, str]) -> None:
    body = await (await client.get(f"{BASE}/chats/7001/messages?limitation=20", headers=headers)).json()
    message = body["collection"][0]
    assert set(message) == {"id", "content", "sender", "seenAt", "createdAt", "deliveredAt", "editedAt"}
    assert message["content"]["type"] in {"text", "picture", "file"}
    assert message["sender"]["type"] in {"contact", "operator"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", message["createdAt"])
    # The 75 messages straddle Kyiv's spring-forward: 02:59 local is followed by 04:00.
    page_2 = await (await client.get(f"{BASE}/chats/7001/messages?page=2&limitation=20", headers=headers)).json()
    dates = [m["createdAt"] for m in page_2["collection"]]
    assert dates[9:12] == ["2024-03-31 04:01:00", "2024-03-31 04:00:00", "2024-03-31 02:59:00"]


async def test_default_limitation_and_list_order(client: Any, headers: dict[str, str]) -> None:
    body = await (await client.get(f"{BASE}/chats", headers=headers)).json()
    assert body["cursor"] == {"page": 1, "pages": 1}
    assert [str(chat["id"]) for chat in body["collection"]] == client.app[STORE].chat_ids()
    chat = body["collection"][0]
    assert chat["contact"]["id"] == 9001 and isinstance(chat["contact"]["originalId"], str)
    assert chat["gates"][0]["channel"]["type"] == "telegram"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"term": "олена"}, [7001]),
        ({"state": "closed"}, [7005]),
        ({"state": "open", "term": "ta"}, [7002]),
        ({"selector[name]": "private", "selector[operatorId]": "502"}, [7002]),
        ({"selector[name]": "unread"}, [7001, 7003]),
        ({"term": "nobody"}, []),
    ],
    ids=["term", "closed", "open+term", "private", "unread", "empty"],
)
async def test_chat_filters(client: Any, headers: dict[str, str], query: dict[str, str], expected: list[int]) -> None:
    body = await (await client.get(f"{BASE}/chats", params=query, headers=headers)).json()
    assert [chat["id"] for chat in body["collection"]] == expected
    assert body["cursor"]["pages"] == 1


@pytest.mark.parametrize("query", ["selector[name]=private", "selector[name]=mine", "state=archived"])
async def test_chat_filter_errors(client: Any, headers: dict[str, str], query: str) -> None:
    assert (await client.get(f"{BASE}/chats?{query}", headers=headers)).status == 422


async def test_read_close_forward(client: Any, headers: dict[str, str]) -> None:
    for action in ("read", "close"):
        response = await client.put(f"{BASE}/chats/7001/{action}", headers=headers)
        assert await response.json() == {"state": True}
    chat = await (await client.get(f"{BASE}/chats/7001", headers=headers)).json()
    assert chat["unreadMessages"] == 0 and chat["gates"][0]["unreadMessages"] == 0 and chat["isClosed"] is True
    response = await client.post(f"{BASE}/chats/7003/forward/502", json={"text": "Для тебе 🙂"}, headers=headers)
    assert await response.json() == {"state": True}
    private = await (await client.get(f"{BASE}/chats?selector[name]=private&selector[operatorId]=502", headers=headers)).json()
    assert [chat["id"] for chat in private["collection"]] == [7002, 7003]
    assert (await client.post(f"{BASE}/chats/7003/forward/999", json={}, headers=headers)).status == 404


async def test_unknown_chat(client: Any, headers: dict[str, str]) -> None:
    response = await client.get(f"{BASE}/chats/999", headers=headers)
    assert response.status == 404
    assert await response.json() == {"error": "Chat not found"}


async def test_send_text_and_picture(make_client: Any, headers: dict[str, str]) -> None:
    client = await make_client("smartsender", clock=lambda: datetime(2025, 7, 1, 9, 0, tzinfo=UTC))
    response = await client.post(f"{BASE}/contacts/9004/send", json={"type": "text", "content": "Вітаю! 👋"}, headers=headers)
    message = await response.json()
    assert response.status == 200
    assert message["content"] == {"type": "text", "resource": {"parameters": {"content": "Вітаю! 👋"}}}
    assert message["sender"]["type"] == "operator" and message["createdAt"] == "2025-07-01 12:00:00"
    assert client.app[STORE].message_ids_newest_first("7004") == [str(message["id"])]
    assert json.loads(client.app[RECORDED][-1].body) == {"type": "text", "content": "Вітаю! 👋"}
    picture = {"type": "picture", "media": "http://127.0.0.1/cat.jpg", "content": "🐱"}
    message = await (await client.post(f"{BASE}/contacts/9004/send", json=picture, headers=headers)).json()
    assert message["content"]["resource"]["url"] == "http://127.0.0.1/cat.jpg"


@pytest.mark.parametrize(
    ("contact", "body", "status"),
    [
        (9999, {"type": "text", "content": "hi"}, 404),
        (9001, {"type": "text"}, 422),
        (9001, {"type": "picture", "content": "no media"}, 422),
        (9001, {"type": "sticker", "content": "x"}, 422),
        (9001, ["not", "an", "object"], 422),
    ],
    ids=["unknown-contact", "no-content", "no-media", "bad-type", "not-object"],
)
async def test_send_errors(client: Any, headers: dict[str, str], contact: int, body: Any, status: int) -> None:
    response = await client.post(f"{BASE}/contacts/{contact}/send", json=body, headers=headers)
    assert response.status == status
    assert "error" in await response.json()
