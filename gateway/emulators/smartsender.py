"""Smart Sender chats API emulator (vendor-facts.md §2).

Page-numbered lists (``page`` ≥ 1, ``limitation`` 1..20), zone-less local dates, and
sending addressed to the chat's contact rather than to the chat.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any, Final
from zoneinfo import ZoneInfo

from aiohttp import web

from .common import (
    Clock,
    Reply,
    bearer_token,
    build_app,
    guard,
    json_response,
    minute_times,
    next_time,
    seed_directions,
    seed_rng,
    strict_int,
    utc_now,
)

__all__ = ["BASE_PATH", "DEMO_TIMEZONE", "DEMO_TOKEN", "OPERATORS", "SmartsenderStore", "create_app", "env"]

BASE_PATH: Final = "/v1"
DEMO_TOKEN: Final = "demo-smartsender-token"
DEMO_TIMEZONE: Final = "Europe/Kyiv"
OPERATORS: Final = MappingProxyType({501: "Олена Коваль", 502: "Taras Bondar 🚀"})
_TOKEN_OPERATOR: Final = 501
_MEDIA: Final = "https://cdn.smartsender.example"
# (chat id, name, channel, message count, operator, closed); chat 7001 is the large one.
_DEFAULT_CHATS: Final = (
    (7001, "Олена Шевченко 🌻", "telegram", 75, 501, False),
    (7002, "Taras", "viber", 3, 502, False),
    (7003, "Ірина & <Co>", "instagram", 1, None, False),
    (7004, "Max Müller", "telegram", 0, None, False),
    (7005, "Дмитро 🚜", "facebook", 12, 501, True),
)
_PHRASES: Final = (
    "Привіт! 👋",
    "Коли буде доставка? 🚚",
    "Дякую за замовлення 🙏",
    "Is the 🧥 still in stock?",
    "Оплата пройшла ✅",
    'Ціна < 500 ₴ & "безкоштовна" доставка?',
    "Добре, чекаю 😊",
)
# 75 messages a minute apart up to 01:30 UTC cross the 2024 spring DST change in Kyiv.
_SEED_NEWEST: Final = datetime(2024, 3, 31, 1, 30, tzinfo=UTC)
_CHAT_CREATED: Final = _SEED_NEWEST - timedelta(days=120)
_PAGE_MAX: Final = 20


@dataclass
class _Message:
    id: int
    kind: str
    text: str
    media: str | None
    inbound: bool
    sender_name: str
    created: datetime
    seen: datetime | None


@dataclass
class _Chat:
    id: int
    name: str
    channel: str
    created: datetime
    operator_id: int | None = None
    closed: bool = False
    messages: list[_Message] = field(default_factory=list)

    @property
    def contact_id(self) -> int:
        return self.id + 2000

    @property
    def unread(self) -> int:
        return sum(1 for message in self.messages if message.inbound and message.seen is None)

    @property
    def updated(self) -> datetime:
        return self.messages[-1].created if self.messages else self.created


class SmartsenderStore:
    """Chats keyed by id, each holding its messages oldest first."""

    def __init__(self, clock: Clock = utc_now) -> None:
        self._clock = clock
        self._chats: dict[int, _Chat] = {}
        self._next_id = 100001

    def seed_default(self) -> None:
        for chat_id, name, channel, count, operator_id, closed in _DEFAULT_CHATS:
            self._chats[chat_id] = _Chat(chat_id, name, channel, _CHAT_CREATED, operator_id, closed)
            self.seed_messages(str(chat_id), count)

    def seed_messages(self, chat_id: str, count: int) -> None:
        chat = self._chat_or_new(int(chat_id))
        rng = seed_rng("smartsender", chat.id, count)
        flags = seed_directions(rng, count)
        times = minute_times(_SEED_NEWEST - timedelta(days=chat.id % 100 - 1), count)
        last_outbound = max((index for index, inbound in enumerate(flags) if not inbound), default=-1)
        chat.messages = []
        for index, (created, inbound) in enumerate(zip(times, flags, strict=True)):
            kind = rng.choices(("text", "picture", "file"), (85, 10, 5))[0]
            seen = None if index > last_outbound and inbound else created + timedelta(seconds=30)
            self._append(chat, kind, f"{rng.choice(_PHRASES)} #{index + 1}", inbound, created, seen)

    def seed_chats(self, count: int) -> None:
        self._chats.clear()
        for index in range(count):
            chat_id = 7001 + index
            self._chats[chat_id] = _Chat(chat_id, f"Контакт {index + 1} 💬", "telegram", _CHAT_CREATED)
            self.seed_messages(str(chat_id), 1 + index % 3)

    def message_ids_newest_first(self, chat_id: str) -> list[str]:
        return [str(message.id) for message in reversed(self._chats[int(chat_id)].messages)]

    def chat_ids(self) -> list[str]:
        return [str(chat.id) for chat in self.listed()]

    def add_message(self, chat_id: str, text: str, inbound: bool = True) -> str:
        chat = self._chats[int(chat_id)]
        created = next_time(chat.updated if chat.messages else None, self._clock())
        return str(self._append(chat, "text", text, inbound, created, None).id)

    def listed(self) -> list[_Chat]:
        """All chats in list order: most recently updated first."""
        return sorted(self._chats.values(), key=lambda chat: (chat.updated, chat.id), reverse=True)

    def chat(self, chat_id: int | None) -> _Chat | None:
        return self._chats.get(chat_id) if chat_id is not None else None

    def chat_by_contact(self, contact_id: int | None) -> _Chat | None:
        return next((chat for chat in self._chats.values() if chat.contact_id == contact_id), None)

    def send(self, chat: _Chat, kind: str, text: str, media: str | None) -> _Message:
        created = next_time(chat.updated if chat.messages else None, self._clock())
        return self._append(chat, kind, text, False, created, None, media)

    def mark_read(self, chat: _Chat) -> None:
        now = self._clock()
        for message in chat.messages:
            if message.inbound and message.seen is None:
                message.seen = now

    def _chat_or_new(self, chat_id: int) -> _Chat:
        if chat_id not in self._chats:
            self._chats[chat_id] = _Chat(chat_id, f"Контакт {chat_id} 💬", "telegram", _CHAT_CREATED)
        return self._chats[chat_id]

    def _append(
        self,
        chat: _Chat,
        kind: str,
        text: str,
        inbound: bool,
        created: datetime,
        seen: datetime | None,
        media: str | None = None,
    ) -> _Message:
        if kind != "text" and media is None:
            media = f"{_MEDIA}/media/{self._next_id}.{'jpg' if kind == 'picture' else 'pdf'}"
        sender = chat.name if inbound else OPERATORS[chat.operator_id or _TOKEN_OPERATOR]
        message = _Message(self._next_id, kind, text, media, inbound, sender, created, seen)
        self._next_id += 1
        chat.messages.append(message)
        return message


def _error(status: int, message: str) -> Reply:
    return Reply(json_response({"error": message}, status))


def _paging(request: web.Request) -> tuple[int, int]:
    page = strict_int(request.query.get("page", "1"))
    limit = strict_int(request.query.get("limitation", str(_PAGE_MAX)))
    if page is None or page < 1:
        raise _error(422, "The page must be at least 1.")
    if limit is None or not 1 <= limit <= _PAGE_MAX:
        raise _error(422, f"The limitation must be between 1 and {_PAGE_MAX}.")
    return page, limit


def _page_of(items: list[Any], page: int, limit: int) -> tuple[dict[str, int], list[Any]]:
    pages = max(1, math.ceil(len(items) / limit))
    return {"page": page, "pages": pages}, items[(page - 1) * limit : page * limit]


async def _json_object(request: web.Request, *, required: bool) -> dict[str, Any]:
    raw = await request.read()
    if not raw and not required:
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise _error(422, "The body must be valid JSON.") from None
    if not isinstance(body, dict):
        raise _error(422, "The body must be a JSON object.")
    return body


def _chat_filter(request: web.Request) -> Callable[[_Chat], bool]:
    query = request.query
    term, state, selector = query.get("term", "").casefold(), query.get("state"), query.get("selector[name]", "none")
    if state not in (None, "open", "closed"):
        raise _error(422, "The state must be one of: open, closed.")
    if selector not in ("none", "private", "unread"):
        raise _error(422, "The selector[name] must be one of: none, private, unread.")
    operator_id = strict_int(query.get("selector[operatorId]"))
    if selector == "private" and operator_id is None:
        raise _error(422, "The selector[operatorId] field is required when selector[name] is private.")

    def selected(chat: _Chat) -> bool:
        return (
            term in chat.name.casefold()
            and (state is None or chat.closed == (state == "closed"))
            and (selector != "private" or chat.operator_id == operator_id)
            and (selector != "unread" or chat.unread > 0)
        )

    return selected


class _Api:
    def __init__(self, store: SmartsenderStore, zone: ZoneInfo) -> None:
        self._store = store
        self._zone = zone

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get(f"{BASE_PATH}/chats", self.list_chats),
            web.get(f"{BASE_PATH}/chats/{{chat_id}}", self.get_chat),
            web.put(f"{BASE_PATH}/chats/{{chat_id}}/read", self.read_chat),
            web.put(f"{BASE_PATH}/chats/{{chat_id}}/close", self.close_chat),
            web.post(f"{BASE_PATH}/chats/{{chat_id}}/forward/{{operator_id}}", self.forward_chat),
            web.get(f"{BASE_PATH}/chats/{{chat_id}}/messages", self.list_messages),
            web.post(f"{BASE_PATH}/contacts/{{contact_id}}/send", self.send),
        ]

    async def list_chats(self, request: web.Request) -> web.Response:
        page, limit = _paging(request)
        selected = _chat_filter(request)
        chats = [chat for chat in self._store.listed() if selected(chat)]
        cursor, rows = _page_of(chats, page, limit)
        return json_response({"cursor": cursor, "collection": [self._chat_json(chat) for chat in rows]})

    async def get_chat(self, request: web.Request) -> web.Response:
        return json_response(self._chat_json(self._chat(request)))

    async def read_chat(self, request: web.Request) -> web.Response:
        self._store.mark_read(self._chat(request))
        return json_response({"state": True})

    async def close_chat(self, request: web.Request) -> web.Response:
        self._chat(request).closed = True
        return json_response({"state": True})

    async def forward_chat(self, request: web.Request) -> web.Response:
        chat = self._chat(request)
        operator_id = strict_int(request.match_info["operator_id"])
        if operator_id not in OPERATORS:
            raise _error(404, "Operator not found")
        text = (await _json_object(request, required=False)).get("text", "")
        if not isinstance(text, str):
            raise _error(422, "The text must be a string.")
        chat.operator_id = operator_id
        return json_response({"state": True})

    async def list_messages(self, request: web.Request) -> web.Response:
        chat = self._chat(request)
        page, limit = _paging(request)
        cursor, rows = _page_of(list(reversed(chat.messages)), page, limit)
        return json_response({"cursor": cursor, "collection": [self._message_json(message) for message in rows]})

    async def send(self, request: web.Request) -> web.Response:
        chat = self._store.chat_by_contact(strict_int(request.match_info["contact_id"]))
        if chat is None:
            raise _error(404, "Contact not found")
        body = await _json_object(request, required=True)
        kind, content, media = body.get("type"), body.get("content", ""), body.get("media")
        if kind not in ("text", "picture", "file"):
            raise _error(422, "The type must be one of: text, picture, file.")
        if not isinstance(content, str) or (kind == "text" and not content.strip()):
            raise _error(422, "The content field is required for text messages.")
        if kind != "text" and (not isinstance(media, str) or not media):
            raise _error(422, "The media field is required for picture and file messages.")
        return json_response(self._message_json(self._store.send(chat, kind, content, media)))

    def _chat(self, request: web.Request) -> _Chat:
        chat = self._store.chat(strict_int(request.match_info["chat_id"]))
        if chat is None:
            raise _error(404, "Chat not found")
        return chat

    def _date(self, moment: datetime | None) -> str | None:
        return moment.astimezone(self._zone).strftime("%Y-%m-%d %H:%M:%S") if moment else None

    def _chat_json(self, chat: _Chat) -> dict[str, Any]:
        return {
            "id": chat.id,
            "name": chat.name,
            "image": f"{_MEDIA}/avatars/{chat.contact_id}.jpg",
            "contact": {"id": chat.contact_id, "originalId": str(418776000 + chat.id)},
            "gates": [{"id": chat.id - 4000, "unreadMessages": chat.unread, "channel": {"type": chat.channel}}],
            "unreadMessages": chat.unread,
            "isClosed": chat.closed,
            "createdAt": self._date(chat.created),
            "updatedAt": self._date(chat.updated),
        }

    def _message_json(self, message: _Message) -> dict[str, Any]:
        resource: dict[str, Any] = {"parameters": {"content": message.text}}
        if message.media:
            resource["url"] = message.media
        return {
            "id": message.id,
            "content": {"type": message.kind, "resource": resource},
            "sender": {
                "type": "contact" if message.inbound else "operator",
                "fullName": message.sender_name,
                "image": f"{_MEDIA}/avatars/{'contact' if message.inbound else 'operator'}.jpg",
            },
            "seenAt": self._date(message.seen),
            "createdAt": self._date(message.created),
            "deliveredAt": self._date(message.created),
            "editedAt": None,
        }


def _unauthorized(request: web.Request) -> web.Response:
    return json_response({"error": "Unauthorized"}, 401)


def create_app(
    *, token: str = DEMO_TOKEN, timezone: str = DEMO_TIMEZONE, clock: Clock = utc_now, seed: bool = True
) -> web.Application:
    store = SmartsenderStore(clock)
    if seed:
        store.seed_default()
    authorized = guard(lambda request: bearer_token(request) == token, _unauthorized)
    return build_app(store, _Api(store, ZoneInfo(timezone)).routes(), guards=[authorized])


def env(base_url: str) -> dict[str, str]:
    return {"SMARTSENDER_BASE_URL": base_url, "SMARTSENDER_TOKEN": DEMO_TOKEN, "SMARTSENDER_TIMEZONE": DEMO_TIMEZONE}
