"""Spurtcommerce vendor chat API emulator (vendor-facts.md §1).

Read-only REST: the vendor's profile, the admins it may chat with, and the whole
history with one admin in no particular order. Sending is socket.io only upstream,
so there is deliberately no send endpoint here.
"""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any, Final
from zoneinfo import ZoneInfo

from aiohttp import web

from .common import (
    Clock,
    bearer_token,
    build_app,
    guard,
    json_response,
    minute_times,
    next_time,
    object_xml,
    seed_directions,
    seed_rng,
    strict_int,
    utc_now,
    wants_xml,
)

__all__ = ["BASE_PATH", "DEMO_TIMEZONE", "DEMO_TOKEN", "VENDOR_USER_ID", "SpurtcommerceStore", "create_app", "env"]

BASE_PATH: Final = "/backend/api"
DEMO_TOKEN: Final = "demo-spurtcommerce-jwt"
DEMO_TIMEZONE: Final = "Asia/Kolkata"
VENDOR_USER_ID: Final = 1314
_VENDOR: Final = MappingProxyType(
    {
        "vendorId": 314,
        "userId": VENDOR_USER_ID,
        "firstName": "Priya",
        "lastName": "Raman ✨",
        "email": "priya@chai-and-co.example",
        "companyName": "Chai & Co. ☕",
    }
)
# (userId, firstName, lastName, message count); userId 1 has the large history.
_DEFAULT_ADMINS: Final = (
    (1, "Arjun", "Mehta 🛍️", 50),
    (2, "Zoë", "Fernandes", 3),
    (3, "अनन्या", "शर्मा", 1),
    (4, "Support", "Desk", 0),
    (5, "Kabir", "<Singh> & Sons", 7),
)
_PHRASES: Final = (
    "Namaste 🙏",
    "When will order #4521 ship? 📦",
    "भुगतान प्राप्त हुआ ✅",
    "Please update the GST invoice 🧾",
    "Stock is low on masala chai ☕",
    'Price < ₹500 & free delivery? "yes"',
    "Thanks! 😊",
    "மிக்க நன்றி",
)
_SEED_NEWEST: Final = datetime(2024, 3, 30, 9, 15, 0, tzinfo=UTC)
_ADDON_OFF: Final = MappingProxyType({"status": 0, "message": "you dont have access for it, please enable addon"})


@dataclass
class _Row:
    id: int
    sender_id: int
    receiver_id: int
    body: str
    media: str
    message_id: str
    is_read: int
    created: datetime

    def render(self, zone: ZoneInfo) -> dict[str, Any]:
        payload = {
            "body": self.body,
            "media": self.media,
            "mediaPath": "chat/media/" if self.media else "",
            "isreply": False,
            "time": int(self.created.timestamp() * 1000),
        }
        return {
            "id": self.id,
            "senderId": self.sender_id,
            "receiverId": self.receiver_id,
            "message": json.dumps(payload, ensure_ascii=False),
            "messageId": self.message_id,
            "isRead": self.is_read,
            "createdDate": self.created.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S"),
        }


class SpurtcommerceStore:
    """Admins (the chats, keyed by userId) and the chat_log rows with each."""

    def __init__(self, clock: Clock = utc_now) -> None:
        self._clock = clock
        self._admins: dict[int, dict[str, Any]] = {}
        self._history: dict[int, list[_Row]] = {}
        self._next_id = 1
        self._live_rng = seed_rng("spurtcommerce-live")

    def seed_default(self) -> None:
        for user_id, first, last, count in _DEFAULT_ADMINS:
            self._add_admin(user_id, first, last)
            self.seed_messages(str(user_id), count)

    def seed_messages(self, chat_id: str, count: int) -> None:
        user_id = int(chat_id)
        if user_id not in self._admins:
            self._add_admin(user_id, "Admin", f"#{user_id} 🌟")
        rng = seed_rng("spurtcommerce", user_id, count)
        newest = _SEED_NEWEST - timedelta(days=user_id)
        flags = seed_directions(rng, count)
        rows = []
        for index, (created, inbound) in enumerate(zip(minute_times(newest, count), flags, strict=True)):
            text = f"{rng.choice(_PHRASES)} #{index + 1}"
            media = f"product-{index + 1}.jpg" if rng.random() < 0.1 else ""
            unread = inbound and index >= count - 2
            rows.append(self._row(user_id, text, inbound, created, self._uuid(rng), media, unread))
        self._history[user_id] = rows

    def seed_chats(self, count: int) -> None:
        self._admins.clear()
        self._history.clear()
        for user_id in range(1, count + 1):
            self._add_admin(user_id, "Admin", f"#{user_id} 🌟")
            self.seed_messages(str(user_id), 1 + (user_id - 1) % 3)

    def message_ids_newest_first(self, chat_id: str) -> list[str]:
        rows = sorted(self._history[int(chat_id)], key=lambda row: (row.created, row.id), reverse=True)
        return [str(row.id) for row in rows]

    def chat_ids(self) -> list[str]:
        return [str(user_id) for user_id in self._admins]

    def add_message(self, chat_id: str, text: str, inbound: bool = True) -> str:
        user_id = int(chat_id)
        rows = self._history[user_id]
        created = next_time(max((row.created for row in rows), default=None), self._clock())
        row = self._row(user_id, text, inbound, created, self._uuid(self._live_rng), "", inbound)
        rows.append(row)
        return str(row.id)

    def admins(self) -> list[dict[str, Any]]:
        return list(self._admins.values())

    def history(self, user_id: int) -> list[_Row] | None:
        """The rows with ``user_id`` in a deterministic shuffled order, None if unknown."""
        if user_id not in self._admins:
            return None
        rows = list(self._history.get(user_id, []))
        ascending = list(rows)
        seed_rng("spurtcommerce-order", user_id, len(rows)).shuffle(rows)
        if len(rows) > 1 and rows == ascending:
            rows = rows[1:] + rows[:1]
        return rows

    def _add_admin(self, user_id: int, first: str, last: str) -> None:
        email = f"admin{user_id}@spurt-admin.example"
        self._admins[user_id] = {"userId": user_id, "firstName": first, "lastName": last, "email": email}
        self._history.setdefault(user_id, [])

    @staticmethod
    def _uuid(rng: random.Random) -> str:
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))

    def _row(
        self, user_id: int, text: str, inbound: bool, created: datetime, message_id: str, media: str, unread: bool
    ) -> _Row:
        sender, receiver = (user_id, VENDOR_USER_ID) if inbound else (VENDOR_USER_ID, user_id)
        row = _Row(self._next_id, sender, receiver, text, media, message_id, 0 if unread else 1, created)
        self._next_id += 1
        return row


def _respond(request: web.Request, payload: dict[str, Any], status: int = 200) -> web.Response:
    if wants_xml(request):
        return web.Response(body=object_xml(payload), status=status, content_type="application/xml")
    return json_response(payload, status)


class _Api:
    def __init__(self, store: SpurtcommerceStore, zone: ZoneInfo) -> None:
        self._store = store
        self._zone = zone

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get(f"{BASE_PATH}/chat-vendor", self.vendor),
            web.get(f"{BASE_PATH}/chat-vendor/admin-list", self.admin_list),
            web.get(f"{BASE_PATH}/chat-vendor/chat-history", self.chat_history),
        ]

    async def vendor(self, request: web.Request) -> web.Response:
        return _respond(request, {"status": 1, "message": "Successfully Got Vendor Details", "data": dict(_VENDOR)})

    async def admin_list(self, request: web.Request) -> web.Response:
        return _respond(request, {"status": 1, "message": "Successfully Got Admin List", "data": self._store.admins()})

    async def chat_history(self, request: web.Request) -> web.Response:
        raw = request.query.get("userId", "")
        if raw == "":
            invalid = {"status": 0, "message": "Validation failed", "data": {"message": ["userId is required"]}}
            return _respond(request, invalid, 422)
        user_id = strict_int(raw)
        rows = self._store.history(user_id) if user_id is not None else None
        if rows is None:
            return _respond(request, {"status": 0, "message": "Invalid UserId..!"}, 400)
        data = [row.render(self._zone) for row in rows]
        return _respond(request, {"status": 1, "message": "Successfully Got Chat History..!", "data": data})


def _unauthorized(request: web.Request) -> web.Response:
    missing = bearer_token(request) is None
    message = "No authorization token was found" if missing else "invalid token"
    return _respond(request, {"name": "UnauthorizedError", "message": message}, 401)


def create_app(
    *,
    token: str = DEMO_TOKEN,
    timezone: str = DEMO_TIMEZONE,
    addon_enabled: bool = True,
    clock: Clock = utc_now,
    seed: bool = True,
) -> web.Application:
    store = SpurtcommerceStore(clock)
    if seed:
        store.seed_default()
    guards = [
        guard(lambda request: bearer_token(request) == token, _unauthorized),
        guard(lambda request: addon_enabled, lambda request: _respond(request, dict(_ADDON_OFF))),
    ]
    return build_app(store, _Api(store, ZoneInfo(timezone)).routes(), guards=guards)


def env(base_url: str) -> dict[str, str]:
    return {
        "SPURTCOMMERCE_BASE_URL": base_url,
        "SPURTCOMMERCE_TOKEN": DEMO_TOKEN,
        "SPURTCOMMERCE_TIMEZONE": DEMO_TIMEZONE,
    }
