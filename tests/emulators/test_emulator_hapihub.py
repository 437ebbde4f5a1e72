"""HapiHub emulator: Feathers queries returning bare arrays, Feathers error objects."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.emulators import RECORDED, STORE


@pytest.fixture
async def client(make_client: Any) -> Any:
    return await make_client("hapihub")


@pytest.fixture
def headers(auth: dict[str, dict[str, str]]) -> dict[str, str]:
    return auth["hapihub"]


async def test_not_authenticated(client: Any) -> None:
    response = await client.get("/chat-messages")
    assert response.status == 401
    body = await response.json()
    assert body["name"] == "NotAuthenticated" and body["code"] == 401 and body["className"] == "not-authenticated"


async def test_find_defaults_to_everything_oldest_first(client: Any, headers: dict[str, str]) -> None:
    rows = await (await client.get("/chat-messages?room=room-001", headers=headers)).json()
    assert len(rows) == 120
    stamps = [row["createdAt"] for row in rows]
    assert stamps == sorted(stamps) and len(set(stamps)) == 120
    assert [row["id"] for row in reversed(rows)] == client.app[STORE].message_ids_newest_first("room-001")


async def test_walk_with_limit_skip_newest_first(client: Any, headers: dict[str, str]) -> None:
    ids: list[str] = []
    while True:
        query = {"room": "room-001", "$limit": "25", "$skip": str(len(ids)), "$sort[createdAt]": "-1", "ignored": "x"}
        rows = await (await client.get("/chat-messages", params=query, headers=headers)).json()
        ids += [row["id"] for row in rows]
        if len(rows) < 25:
            break
    assert ids == client.app[STORE].message_ids_newest_first("room-001")
    assert client.app[RECORDED][-1].query[:2] == [("room", "room-001"), ("$limit", "25")]


@pytest.mark.parametrize("query", ["$limit=x", "$skip=-1", "$sort[createdAt]=up"])
async def test_bad_query_is_bad_request(client: Any, headers: dict[str, str], query: str) -> None:
    response = await client.get(f"/chat-messages?{query}", headers=headers)
    assert response.status == 400 and (await response.json())["className"] == "bad-request"


async def test_get_and_patch_seen(client: Any, headers: dict[str, str]) -> None:
    newest = client.app[STORE].message_ids_newest_first("room-002")[0]
    message = await (await client.get(f"/chat-messages/{newest}", headers=headers)).json()
    assert set(message) == {"id", "createdAt", "createdBy", "room", "session", "text", "media", "seenBy"}
    assert "uid-agent-1" not in message["seenBy"]
    patched = await (await client.patch(f"/chat-messages/{newest}", json={"seen": True}, headers=headers)).json()
    assert patched["seenBy"].count("uid-agent-1") == 1
    again = await (await client.patch(f"/chat-messages/{newest}", json={"seen": True}, headers=headers)).json()
    assert again["seenBy"] == patched["seenBy"]


async def test_not_found(client: Any, headers: dict[str, str]) -> None:
    response = await client.get("/chat-messages/x", headers=headers)
    assert response.status == 404
    expected = {"name": "NotFound", "message": "No record found for id 'x'", "code": 404, "className": "not-found"}
    assert await response.json() == expected
    assert (await client.get("/chat-rooms/nope", headers=headers)).status == 404


async def test_create_message(client: Any, headers: dict[str, str]) -> None:
    response = await client.post("/chat-messages", json={"room": "room-004", "text": "Magandang araw! ☀️"}, headers=headers)
    assert response.status == 201
    message = await response.json()
    assert message["createdBy"] == "uid-agent-1" and message["media"] is None and message["session"] is None
    assert client.app[STORE].message_ids_newest_first("room-004") == [message["id"]]
    media = {"room": "room-004", "media": "http://127.0.0.1/x.png", "createdAt": 1564661697125}
    created = await (await client.post("/chat-messages", json=media, headers=headers)).json()
    assert created["createdAt"] == 1564661697125 and created["text"] is None


@pytest.mark.parametrize(
    "body",
    [
        {"text": "no room"},
        {"room": "room-001"},
        {"room": "room-001", "text": ""},
        {"room": "room-001", "text": "x", "createdAt": "now"},
    ],
    ids=["no-room", "no-content", "empty-text", "bad-createdAt"],
)
async def test_create_bad_request(client: Any, headers: dict[str, str], body: dict[str, Any]) -> None:
    response = await client.post("/chat-messages", json=body, headers=headers)
    assert response.status == 400
    assert (await response.json())["name"] == "BadRequest"


async def test_rooms(client: Any, headers: dict[str, str]) -> None:
    rooms = await (await client.get("/chat-rooms", headers=headers)).json()
    assert [room["id"] for room in rooms] == client.app[STORE].chat_ids()
    room = await (await client.get("/chat-rooms/room-001", headers=headers)).json()
    assert room == rooms[0] and "uid-agent-1" in room["participants"]
