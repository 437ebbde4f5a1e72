"""Storeden messages API emulator (vendor-facts.md §3).

Two credential headers, form-encoded sends, 30 messages a page with an absolute
``next_page`` URL, ``+0200``-style offsets, and a daily call budget answered with 509.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

from aiohttp import web

from .common import (
    Clock,
    Reply,
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

__all__ = ["BASE_PATH", "DEMO_EXCHANGE", "DEMO_KEY", "MERCHANT_ID", "PAGE_SIZE", "StoredenStore", "create_app", "env"]

BASE_PATH: Final = "/v1.1"
DEMO_KEY: Final = "demo-storeden-key"
DEMO_EXCHANGE: Final = "demo-storeden-exchange"
MERCHANT_ID: Final = 132
PAGE_SIZE: Final = 30
_ZONE: Final = ZoneInfo("Europe/Rome")
_FORMS: Final = ("application/x-www-form-urlencoded", "multipart/form-data")
_PHRASES: Final = (
    "Buongiorno! 👋",
    "Quando arriva il pacco? 📦",
    "Grazie mille 😊",
    "La taglia M è disponibile?",
    "Perfetto 👍",
    'Sconto < 10% & "spedizione" gratuita?',
    "Ci sentiamo domani 🍕",
)
# (with_id, name, message count); 49077 "James Bond" is the large one (100 messages).
_DEFAULT_CHATS: Final = (
    (48617, "Test User", 3),
    (49077, "James Bond", 100),
    (49100, "Giulia Rossi 🍕", 1),
    (49150, "Zoë Müller", 0),
    (49200, "Marco & <Figli> Srl", 12),
)
_SEED_NEWEST: Final = datetime(2024, 3, 31, 1, 30, tzinfo=UTC)


def _date(moment: datetime | None) -> str:
    return moment.astimezone(_ZONE).strftime("%Y-%m-%dT%H:%M:%S%z") if moment else ""


def _parse(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S%z")


@dataclass
class _Message:
    message_id: str
    from_id: int
    from_myself: bool
    text: str
    sent: datetime
    read_myself: datetime | None
    read_with: datetime | None

    def render(self) -> dict[str, Any]:
        return {
            "from_id": self.from_id,
            "from_myself": self.from_myself,
            "message": self.text,
            "send_date": _date(self.sent),
            "message_id": self.message_id,
            "read_by": {"myself_id": _date(self.read_myself), "with_id": _date(self.read_with)},
        }


def _doc_message(message_id: str, mine: bool, text: str, sent: str, read_myself: str, read_with: str) -> _Message:
    """A message exactly as the seed document shows it (all from_id 132 there)."""
    read_with_at = _parse(read_with) if read_with else None
    return _Message(message_id, MERCHANT_ID, mine, text, _parse(sent), _parse(read_myself), read_with_at)


# (message_id, from_myself, message, send_date, read_by.myself_id, read_by.with_id)
_DOC_OLDEST: Final = (
    "5404951616f46afe57e9e938", False, "test message",
    "2014-09-01T17:47:34+0200", "2014-09-01T18:18:06+0200", "2014-09-01T18:13:44+0200",
)  # fmt: skip
_DOC_NEWEST: Final = (
    ("59e7209d16f46ab504d20d22", True, "Lorem Ipsum 1",
     "2017-10-18T11:36:29+0200", "2018-10-26T23:11:44+0200", "2018-04-03T11:28:18+0200"),
    ("5a55ee4616f46aec4906a11d", True, "Lorem Ipsum 2",
     "2018-01-10T11:43:18+0100", "2018-10-26T23:11:44+0200", "2018-04-03T11:28:18+0200"),
    ("5a55ee8a16f46a094a06a11d", True, "Lorem Ipsum 3",
     "2018-01-10T11:44:26+0100", "2018-10-26T23:11:44+0200", "2018-04-03T11:28:18+0200"),
    ("5bbf092a16f46a0119e55a80", True, "Lorem Ipsum 4",
     "2018-10-11T10:26:18+0200", "2018-10-26T23:11:44+0200", ""),
)  # fmt: skip


@dataclass
class _Conversation:
    with_id: int
    name: str
    messages: list[_Message] = field(default_factory=list)  # oldest first


class StoredenStore:
    """Conversations keyed by the other user's id (``with_id``)."""

    def __init__(self, clock: Clock = utc_now) -> None:
        self._clock = clock
        self._chats: dict[int, _Conversation] = {}
        self._live_rng = seed_rng("storeden-live")

    def seed_default(self) -> None:
        for with_id, name, count in _DEFAULT_CHATS:
            self._chats[with_id] = _Conversation(with_id, name)
            self.seed_messages(str(with_id), count)
        self._seed_doc_examples()

    def seed_messages(self, chat_id: str, count: int, *, newest: datetime | None = None) -> None:
        chat = self._chats.setdefault(int(chat_id), _Conversation(int(chat_id), f"Cliente {chat_id} 🛒"))
        rng = seed_rng("storeden", chat.with_id, count)
        flags = seed_directions(rng, count)
        times = minute_times(newest or _SEED_NEWEST - timedelta(days=chat.with_id % 97), count)
        last_in = max((index for index, inbound in enumerate(flags) if inbound), default=-1)
        last_out = max((index for index, inbound in enumerate(flags) if not inbound), default=-1)
        chat.messages = []
        for index, (sent, inbound) in enumerate(zip(times, flags, strict=True)):
            later = sent + timedelta(minutes=rng.randint(1, 600))
            read_myself = (later if index < last_out else None) if inbound else sent
            read_with = sent if inbound else (later if index < last_in else None)
            message_id = f"{int(sent.timestamp()):08x}{rng.getrandbits(64):016x}"
            from_id = chat.with_id if inbound else MERCHANT_ID
            text = f"{rng.choice(_PHRASES)} #{index + 1}"
            chat.messages.append(_Message(message_id, from_id, not inbound, text, sent, read_myself, read_with))

    def seed_chats(self, count: int) -> None:
        self._chats.clear()
        for index in range(count):
            with_id = 50001 + index
            self._chats[with_id] = _Conversation(with_id, f"Cliente {index + 1} 🛒")
            self.seed_messages(str(with_id), 1 + index % 3)

    def message_ids_newest_first(self, chat_id: str) -> list[str]:
        return [message.message_id for message in self.newest_first(int(chat_id)) or []]

    def chat_ids(self) -> list[str]:
        return [str(with_id) for with_id in sorted(self._chats)]

    def add_message(self, chat_id: str, text: str, inbound: bool = True) -> str:
        chat = self._chats[int(chat_id)]
        sent = next_time(chat.messages[-1].sent if chat.messages else None, self._clock())
        message_id = f"{int(sent.timestamp()):08x}{self._live_rng.getrandbits(64):016x}"
        from_id = chat.with_id if inbound else MERCHANT_ID
        read_myself, read_with = (None, sent) if inbound else (sent, None)
        chat.messages.append(_Message(message_id, from_id, not inbound, text, sent, read_myself, read_with))
        return message_id

    def conversations(self) -> list[_Conversation]:
        return [self._chats[with_id] for with_id in sorted(self._chats)]

    def newest_first(self, with_id: int) -> list[_Message] | None:
        chat = self._chats.get(with_id)
        return list(reversed(chat.messages)) if chat else None

    def _seed_doc_examples(self) -> None:
        """The seed document's own rows: 49077 ends with Lorem Ipsum 1-4 and starts with
        "test message"; 48617's newest is "ciao" at 2015-09-29T16:30:05+0200."""
        james = self._chats[49077]
        # 95 generated messages a minute apart across the 2017 spring DST change.
        self.seed_messages("49077", 95, newest=datetime(2017, 3, 26, 1, 40, tzinfo=UTC))
        james.messages = [_doc_message(*_DOC_OLDEST), *james.messages, *(_doc_message(*row) for row in _DOC_NEWEST)]
        self.seed_messages("48617", 3, newest=_parse("2015-09-29T16:30:05+0200"))
        self._chats[48617].messages[-1].text = "ciao"


def _error(status: int, message: str) -> Reply:
    return Reply(json_response({"error": status, "message": message}, status))


def _with_id(raw: str | None) -> int:
    if not raw:
        raise _error(400, "with_id is required")
    with_id = strict_int(raw)
    if with_id is None:
        raise _error(400, "with_id must be an integer")
    return with_id


class _Api:
    def __init__(self, store: StoredenStore) -> None:
        self._store = store

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get(f"{BASE_PATH}/messages/chat_list.json", self.chat_list),
            web.get(f"{BASE_PATH}/messages/chat.json", self.chat),
            web.post(f"{BASE_PATH}/messages/chat.json", self.send),
        ]

    async def chat_list(self, request: web.Request) -> web.Response:
        rows = []
        for chat in self._store.conversations():
            last = chat.messages[-1] if chat.messages else None
            rows.append(
                {
                    "name": chat.name,
                    "with_id": chat.with_id,
                    "last_message_at": _date(last.sent) if last else None,
                    "last_message_content": last.text if last else None,
                }
            )
        return json_response(rows)

    async def chat(self, request: web.Request) -> web.Response:
        with_id = _with_id(request.query.get("with_id"))
        page = strict_int(request.query.get("page", "1"))
        if page is None or page < 1:
            raise _error(400, "page must be a positive integer")
        messages = self._store.newest_first(with_id)
        if messages is None:
            raise _error(404, "Conversation not found")
        body: dict[str, Any] = {"messages": [m.render() for m in messages[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]]}
        if page * PAGE_SIZE < len(messages):
            origin = f"{request.scheme}://{request.host}"
            body["next_page"] = f"{origin}{BASE_PATH}/messages/chat.json?with_id={with_id}&page={page + 1}"
        return json_response(body)

    async def send(self, request: web.Request) -> web.Response:
        if request.content_type not in _FORMS:
            raise _error(400, "Invalid payload: with_id and message must be sent as form fields")
        form = await request.post()
        with_id = _with_id(str(form.get("with_id", "")))
        text = form.get("message")
        if not isinstance(text, str) or not text.strip():
            raise _error(400, "message is required")
        if self._store.newest_first(with_id) is None:
            raise _error(404, "Conversation not found")
        return json_response({"message_id": self._store.add_message(str(with_id), text, inbound=False)})


class _DailyLimit:
    """Counts authenticated calls per Europe/Rome calendar day."""

    def __init__(self, limit: int, clock: Clock) -> None:
        self._limit = limit
        self._clock = clock
        self._day = self._clock().astimezone(_ZONE).date()
        self._used = 0

    def allow(self, request: web.Request) -> bool:
        today = self._clock().astimezone(_ZONE).date()
        if today != self._day:
            self._day, self._used = today, 0
        self._used += 1
        return self._used <= self._limit


def _invalid_credentials(request: web.Request) -> web.Response:
    return json_response({"error": 401, "message": "Invalid credentials"}, 401)


def _limit_exceeded(request: web.Request) -> web.Response:
    return web.Response(status=509, reason="Bandwidth Limit Exceeded", text="Limit Exceeded", content_type="text/plain")


def _credentials_ok(request: web.Request, key: str, exchange: str) -> bool:
    return request.headers.get("key") == key and request.headers.get("exchange") == exchange


def create_app(
    *,
    key: str = DEMO_KEY,
    exchange: str = DEMO_EXCHANGE,
    daily_limit: int = 100_000,
    clock: Clock = utc_now,
    seed: bool = True,
) -> web.Application:
    store = StoredenStore(clock)
    if seed:
        store.seed_default()
    guards = [
        guard(lambda request: _credentials_ok(request, key, exchange), _invalid_credentials),
        guard(_DailyLimit(daily_limit, clock).allow, _limit_exceeded),
    ]
    return build_app(store, _Api(store).routes(), guards=guards)


def env(base_url: str) -> dict[str, str]:
    return {"STOREDEN_BASE_URL": base_url, "STOREDEN_KEY": DEMO_KEY, "STOREDEN_EXCHANGE": DEMO_EXCHANGE}
