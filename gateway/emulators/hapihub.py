"""HapiHub (Feathers) chat-messages emulator (vendor-facts.md §5).

Feathers-style services at the root: ``$limit``/``$skip``/``$sort[createdAt]`` list
queries returning bare arrays, epoch-millisecond dates, Feathers error objects.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from aiohttp import web

from .common import (
    Clock,
    Reply,
    bearer_token,
    build_app,
    guard,
    json_response,
    minute_times,
    seed_directions,
    seed_rng,
    strict_int,
    utc_now,
)

__all__ = ["BASE_PATH", "DEMO_ACCOUNT_ID", "DEMO_TOKEN", "HapihubStore", "create_app", "env"]

BASE_PATH: Final = ""
DEMO_TOKEN: Final = "demo-hapihub-token"
DEMO_ACCOUNT_ID: Final = "uid-agent-1"
_MEDIA: Final = "https://media.hapihub.example/chat"
# (room id, title, message count); room-001 is the large one.
_DEFAULT_ROOMS: Final = (
    ("room-001", "Support · Ana Reyes 🌺", 120),
    ("room-002", "José Dela Cruz", 3),
    ("room-003", "Mga Tanong ❓", 1),
    ("room-004", "Walang laman", 0),
    ("room-005", "Media & <Files> 📎", 10),
)
_PHRASES: Final = (
    "Kumusta po? 👋",
    "Salamat! 🙏",
    "Pwede po bang i-reschedule ang appointment? 🗓️",
    "Results are ready ✅",
    'Is the fee < ₱500 & "refundable"?',
    "Ingat! 😊",
)
_SEED_NEWEST: Final = datetime(2024, 3, 31, 1, 30, tzinfo=UTC)


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


@dataclass
class _Message:
    id: str
    created_at: int
    created_by: str
    room: str
    session: str | None
    text: str | None
    media: str | None
    seen_by: list[str] = field(default_factory=list)

    def render(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "createdAt": self.created_at,
            "createdBy": self.created_by,
            "room": self.room,
            "session": self.session,
            "text": self.text,
            "media": self.media,
            "seenBy": list(self.seen_by),
        }


@dataclass
class _Room:
    id: str
    title: str
    participants: list[str]
    created_at: int

    def render(self) -> dict[str, Any]:
        participants = list(self.participants)
        return {"id": self.id, "title": self.title, "participants": participants, "createdAt": self.created_at}


class HapihubStore:
    """Rooms in creation order and one flat message collection, as Feathers keeps them."""

    def __init__(self, account_id: str = DEMO_ACCOUNT_ID, clock: Clock = utc_now) -> None:
        self._account_id = account_id
        self._clock = clock
        self._rooms: dict[str, _Room] = {}
        self._messages: dict[str, _Message] = {}
        self._next_id = 1

    def seed_default(self) -> None:
        for room_id, title, count in _DEFAULT_ROOMS:
            self._room_or_new(room_id, title)
            self.seed_messages(room_id, count)

    def seed_messages(self, chat_id: str, count: int) -> None:
        room = self._room_or_new(chat_id)
        customer = room.participants[-1]
        self._messages = {key: message for key, message in self._messages.items() if message.room != room.id}
        rng = seed_rng("hapihub", room.id, count)
        salt = zlib.crc32(room.id.encode())
        flags = seed_directions(rng, count)
        times = minute_times(_SEED_NEWEST - timedelta(days=salt % 50, milliseconds=salt % 1000), count)
        for index, (created, inbound) in enumerate(zip(times, flags, strict=True)):
            media = f"{_MEDIA}/{room.id}/{index + 1}.jpg" if rng.random() < 0.15 else None
            text = None if media and rng.random() < 0.5 else f"{rng.choice(_PHRASES)} #{index + 1}"
            reader = self._account_id if inbound else customer
            seen = [reader] if index < count - 2 else []
            session = f"sess-{room.id}-{index // 40 + 1}" if index % 7 else None
            self._append(room.id, customer if inbound else self._account_id, text, media, session, _ms(created), seen)

    def seed_chats(self, count: int) -> None:
        self._rooms.clear()
        self._messages.clear()
        for index in range(count):
            room_id = f"room-{index + 1:03d}"
            self._room_or_new(room_id, f"Kuwarto {index + 1} 💬")
            self.seed_messages(room_id, 1 + index % 3)

    def message_ids_newest_first(self, chat_id: str) -> list[str]:
        return [message.id for message in self.find(room=chat_id, descending=True)]

    def chat_ids(self) -> list[str]:
        return list(self._rooms)

    def add_message(self, chat_id: str, text: str, inbound: bool = True) -> str:
        room = self._rooms[chat_id]
        author = room.participants[-1] if inbound else self._account_id
        return self.create(room.id, author, text, None, None, None).id

    def rooms(self) -> list[_Room]:
        return list(self._rooms.values())

    def room(self, room_id: str) -> _Room | None:
        return self._rooms.get(room_id)

    def message(self, message_id: str) -> _Message | None:
        return self._messages.get(message_id)

    def find(self, *, room: str | None, descending: bool) -> list[_Message]:
        rows = [message for message in self._messages.values() if room is None or message.room == room]
        return sorted(rows, key=lambda message: (message.created_at, message.id), reverse=descending)

    def create(
        self, room: str, author: str, text: str | None, media: str | None, session: str | None, created_at: int | None
    ) -> _Message:
        if created_at is None:
            latest = max((message.created_at for message in self._messages.values()), default=0)
            created_at = max(_ms(self._clock()), latest + 1)
        return self._append(room, author, text, media, session, created_at, [])

    def _room_or_new(self, room_id: str, title: str | None = None) -> _Room:
        if room_id not in self._rooms:
            customer = f"uid-cust-{len(self._rooms) + 1:03d}"
            created = _ms(_SEED_NEWEST - timedelta(days=90 + len(self._rooms)))
            participants = [self._account_id, customer]
            self._rooms[room_id] = _Room(room_id, title or f"Kuwarto {room_id} 💬", participants, created)
        return self._rooms[room_id]

    def _append(
        self,
        room: str,
        author: str,
        text: str | None,
        media: str | None,
        session: str | None,
        created_at: int,
        seen: list[str],
    ) -> _Message:
        message = _Message(f"msg-{self._next_id:06d}", created_at, author, room, session, text, media, seen)
        self._next_id += 1
        self._messages[message.id] = message
        return message


def _feathers(status: int, name: str, message: str) -> Reply:
    class_name = "".join(f"-{char.lower()}" if char.isupper() else char for char in name).lstrip("-")
    return Reply(json_response({"name": name, "message": message, "code": status, "className": class_name}, status))


def _query_int(request: web.Request, name: str) -> int | None:
    if name not in request.query:
        return None
    value = strict_int(request.query[name])
    if value is None or value < 0:
        raise _feathers(400, "BadRequest", f"Invalid query parameter {name}={request.query[name]!r}")
    return value


async def _json_object(request: web.Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.read())
    except ValueError:
        raise _feathers(400, "BadRequest", "Request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise _feathers(400, "BadRequest", "Request body must be a JSON object")
    return body


def _optional_str(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise _feathers(400, "BadRequest", f"'{name}' must be a string")
    return value or None


class _Api:
    def __init__(self, store: HapihubStore, account_id: str) -> None:
        self._store = store
        self._account_id = account_id

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get(f"{BASE_PATH}/chat-messages", self.find_messages),
            web.get(f"{BASE_PATH}/chat-messages/{{id}}", self.get_message),
            web.patch(f"{BASE_PATH}/chat-messages/{{id}}", self.patch_message),
            web.post(f"{BASE_PATH}/chat-messages", self.create_message),
            web.get(f"{BASE_PATH}/chat-rooms", self.find_rooms),
            web.get(f"{BASE_PATH}/chat-rooms/{{id}}", self.get_room),
        ]

    async def find_messages(self, request: web.Request) -> web.Response:
        sort = request.query.get("$sort[createdAt]", "1")
        if sort not in ("1", "-1"):
            raise _feathers(400, "BadRequest", f"Invalid $sort[createdAt]={sort!r}")
        limit, skip = _query_int(request, "$limit"), _query_int(request, "$skip") or 0
        rows = self._store.find(room=request.query.get("room"), descending=sort == "-1")[skip:]
        if limit is not None:
            rows = rows[:limit]
        return json_response([message.render() for message in rows])

    async def get_message(self, request: web.Request) -> web.Response:
        return json_response(self._message(request).render())

    async def patch_message(self, request: web.Request) -> web.Response:
        message = self._message(request)
        if (await _json_object(request)).get("seen") is True and self._account_id not in message.seen_by:
            message.seen_by.append(self._account_id)
        return json_response(message.render())

    async def create_message(self, request: web.Request) -> web.Response:
        body = await _json_object(request)
        room = body.get("room")
        if not isinstance(room, str) or not room:
            raise _feathers(400, "BadRequest", "'room' is required")
        text, media, session = _optional_str(body, "text"), _optional_str(body, "media"), _optional_str(body, "session")
        if text is None and media is None:
            raise _feathers(400, "BadRequest", "Either 'text' or 'media' is required")
        created_at = body.get("createdAt")
        if created_at is not None and (isinstance(created_at, bool) or not isinstance(created_at, int)):
            raise _feathers(400, "BadRequest", "'createdAt' must be a timestamp in milliseconds")
        message = self._store.create(room, self._account_id, text, media, session, created_at)
        return json_response(message.render(), 201)

    async def find_rooms(self, request: web.Request) -> web.Response:
        return json_response([room.render() for room in self._store.rooms()])

    async def get_room(self, request: web.Request) -> web.Response:
        room = self._store.room(request.match_info["id"])
        if room is None:
            raise _feathers(404, "NotFound", f"No record found for id '{request.match_info['id']}'")
        return json_response(room.render())

    def _message(self, request: web.Request) -> _Message:
        message = self._store.message(request.match_info["id"])
        if message is None:
            raise _feathers(404, "NotFound", f"No record found for id '{request.match_info['id']}'")
        return message


def _not_authenticated(request: web.Request) -> web.Response:
    message = "No auth token" if bearer_token(request) is None else "invalid token"
    body = {"name": "NotAuthenticated", "message": message, "code": 401, "className": "not-authenticated"}
    return json_response(body, 401)


def create_app(
    *, token: str = DEMO_TOKEN, account_id: str = DEMO_ACCOUNT_ID, clock: Clock = utc_now, seed: bool = True
) -> web.Application:
    store = HapihubStore(account_id, clock)
    if seed:
        store.seed_default()
    authenticated = guard(lambda request: bearer_token(request) == token, _not_authenticated)
    return build_app(store, _Api(store, account_id).routes(), guards=[authenticated])


def env(base_url: str) -> dict[str, str]:
    return {"HAPIHUB_BASE_URL": base_url, "HAPIHUB_TOKEN": DEMO_TOKEN, "HAPIHUB_ACCOUNT_ID": DEMO_ACCOUNT_ID}
