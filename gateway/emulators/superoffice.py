"""SuperOffice Web API chat emulator (vendor-facts.md §4).

JSON or .NET DataContract XML chosen by ``Accept`` (request bodies by ``Content-Type``),
message ids global and increasing, ``after=<id>`` incremental reads, OData paging of
sessions, and dates in Europe/Oslo with seven fractional digits.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any, Final
from zoneinfo import ZoneInfo

from aiohttp import web
from lxml import etree

from .common import (
    Clock,
    Reply,
    build_app,
    datacontract_xml,
    guard,
    json_response,
    local_name,
    minute_times,
    next_time,
    parse_xml,
    seed_directions,
    seed_rng,
    strict_int,
    utc_now,
    wants_xml,
)

__all__ = ["ASSOCIATES", "BASE_PATH", "DEMO_AUTH", "NAMESPACE", "SuperofficeStore", "create_app", "env"]

BASE_PATH: Final = "/api/v1"
DEMO_AUTH: Final = "SoTicket 7T:ZGVtbw=="
NAMESPACE: Final = "http://www.superoffice.net/ws/crm/NetServer/Services88"
_SERIALIZATION_NS: Final = "http://schemas.microsoft.com/2003/10/Serialization/"
ASSOCIATES: Final = MappingProxyType({5: "Tjerand Ødegård", 7: "Ingrid Ås 🌲", 11: "Support <Bot> & Co"})
_ME: Final = 5  # the associate the demo credentials log in as
_ZONE: Final = ZoneInfo("Europe/Oslo")
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_TYPES: Final = ("ToCustomer", "ToUser", "Special")
_PHRASES: Final = (
    "Hei! Jeg trenger hjelp med fakturaen 🧾",
    "Takk skal du ha 😊",
    "Har dere blåbærsyltetøy på lager?",
    "Ordren er sendt 📦",
    'Pris < 200 kr & "gratis" frakt?',
    "Ha en fin dag! ☀️",
)
# (id, customer, email, count, user, closed); 341 is the large session holding doc message 958.
_DEFAULT_SESSIONS: Final = (
    (341, "Kari Nordmann", "kari@nordmann.example", 70, 5, False),
    (342, "Ola Åsheim 🎿", "ola@asheim.example", 3, 7, False),
    (343, "Sofie <Lie> & Co", "sofie@lie.example", 1, None, False),
    (344, "Lars Øye", "lars@oye.example", 0, None, False),
    (345, "Ingrid Bø 🌲", "ingrid@bo.example", 8, 5, True),
)
# ChatMessage 958 exactly as the seed document shows it; its session's other messages
# sit a minute apart around it, ids 920..989.
_DOC_WHEN: Final = datetime(2016, 7, 21, 12, 13, 48, 444557, tzinfo=UTC)
_SEED_NEWEST: Final = datetime(2024, 3, 31, 1, 30, 12, 345678, tzinfo=UTC)


def _ticks(moment: datetime, digit: int = 0) -> int:
    """100-ns ticks since the epoch, the resolution .NET prints (seven digits)."""
    return (moment - _EPOCH) // timedelta(microseconds=1) * 10 + digit


def _moment(ticks: int) -> datetime:
    return _EPOCH + timedelta(microseconds=ticks // 10)


def _when(ticks: int | None) -> str | None:
    if ticks is None:
        return None
    local = _moment(ticks).astimezone(_ZONE)
    iso = local.isoformat(timespec="seconds")
    return f"{iso[:19]}.{local.microsecond:06d}{ticks % 10}{iso[19:]}"


@dataclass
class _Message:
    id: int
    session_id: int
    type: str
    text: str
    author: str
    read_by_customer: int
    special_type: str
    special_param: str | None
    posted: int  # ticks

    def render(self) -> dict[str, Any]:
        return {
            "ChatMessageId": self.id,
            "ChatSessionId": self.session_id,
            "Type": self.type,
            "Message": self.text,
            "Author": self.author,
            "ReadByCustomer": self.read_by_customer,
            "SpecialType": self.special_type,
            "SpecialParam": self.special_param,
            "WhenPosted": _when(self.posted),
        }


@dataclass
class _Session:
    id: int
    customer_name: str
    customer_email: str
    requested: int
    user: int | None = None
    ended: int | None = None
    messages: list[_Message] = field(default_factory=list)  # ascending ids

    @property
    def status(self) -> str:
        if self.ended is not None:
            return "Closed"
        if self.user is None:
            return "InQueue"
        last = self.messages[-1].type if self.messages else ""
        return "CustomerLast" if last == "ToUser" else "UserLast"

    def render(self) -> dict[str, Any]:
        texts = [message.text for message in self.messages]
        return {
            "ChatSessionId": self.id,
            "Status": self.status,
            "CustomerName": self.customer_name,
            "CustomerEmail": self.customer_email,
            "FirstMessage": texts[0] if texts else "",
            "LastMessage": texts[-1] if texts else "",
            "WhenRequested": _when(self.requested),
            "WhenStarted": _when(self.requested + 600_000_000) if self.user is not None else None,
            "WhenEnded": _when(self.ended),
            "User": {"AssociateId": self.user, "Name": ASSOCIATES[self.user]} if self.user is not None else None,
        }


class SuperofficeStore:
    """Chat sessions keyed by ChatSessionId; message ids are global and increasing."""

    def __init__(self, clock: Clock = utc_now) -> None:
        self._clock = clock
        self._sessions: dict[int, _Session] = {}
        self._next_id = 920

    def seed_default(self) -> None:
        for session_id, name, email, count, user, closed in _DEFAULT_SESSIONS:
            self._sessions[session_id] = _Session(session_id, name, email, 0, user)
            newest = _DOC_WHEN + timedelta(minutes=31) if session_id == 341 else None
            self.seed_messages(str(session_id), count, newest=newest)
            if closed:
                self._sessions[session_id].ended = self._sessions[session_id].messages[-1].posted + 3_000_000_000
        doc = self._sessions[341].messages[38]
        doc.type, doc.text, doc.author, doc.read_by_customer = "Invalid", "iure", "non", 482
        doc.special_type, doc.special_param, doc.posted = "Block", "odio", _ticks(_DOC_WHEN, 4)
        welcome = self._sessions[342].messages[0]
        welcome.type, welcome.author, welcome.special_type = "Special", "", "Welcome"
        welcome.text = "Velkommen til chatten! 👋"

    def seed_messages(self, chat_id: str, count: int, *, newest: datetime | None = None) -> None:
        session = self._session_or_new(int(chat_id))
        rng = seed_rng("superoffice", session.id, count)
        flags = seed_directions(rng, count)
        times = minute_times(newest or _SEED_NEWEST - timedelta(days=session.id % 100), count)
        last_in = max((index for index, inbound in enumerate(flags) if inbound), default=-1)
        session.messages = []
        for index, (posted, inbound) in enumerate(zip(times, flags, strict=True)):
            read = 1 if inbound or index < last_in else 0
            text = f"{rng.choice(_PHRASES)} #{index + 1}"
            self._append(session, "ToUser" if inbound else "ToCustomer", text, _ticks(posted, rng.randint(0, 9)), read)
        session.requested = _ticks(times[0] - timedelta(minutes=2)) if times else _ticks(newest or _SEED_NEWEST)

    def seed_chats(self, count: int) -> None:
        self._sessions.clear()
        for index in range(count):
            self._session_or_new(1001 + index)
            self.seed_messages(str(1001 + index), 1 + index % 3)

    def message_ids_newest_first(self, chat_id: str) -> list[str]:
        return [str(message.id) for message in reversed(self._sessions[int(chat_id)].messages)]

    def chat_ids(self) -> list[str]:
        return [str(session.id) for session in self.sessions()]

    def add_message(self, chat_id: str, text: str, inbound: bool = True) -> str:
        session = self._sessions[int(chat_id)]
        kind = "ToUser" if inbound else "ToCustomer"
        return str(self._append(session, kind, text, self._now_ticks(session), int(inbound)).id)

    def sessions(self) -> list[_Session]:
        return [self._sessions[session_id] for session_id in sorted(self._sessions)]

    def session(self, session_id: int | None) -> _Session | None:
        return self._sessions.get(session_id) if session_id is not None else None

    def post(self, session: _Session, fields: dict[str, Any]) -> _Message:
        author = fields["Author"] if fields.get("Author") is not None else ASSOCIATES[session.user or _ME]
        posted = self._now_ticks(session)
        message = self._append(session, fields["Type"], fields["Message"], posted, fields["ReadByCustomer"], author)
        message.special_type, message.special_param = fields["SpecialType"], fields["SpecialParam"]
        return message

    def _now_ticks(self, session: _Session) -> int:
        latest = _moment(session.messages[-1].posted) if session.messages else None
        return _ticks(next_time(latest, self._clock()))

    def _session_or_new(self, session_id: int) -> _Session:
        if session_id not in self._sessions:
            name, email = f"Kunde {session_id} 🧭", f"kunde{session_id}@example.no"
            self._sessions[session_id] = _Session(session_id, name, email, 0, _ME)
        return self._sessions[session_id]

    def _append(
        self, session: _Session, kind: str, text: str, posted: int, read: int, author: str | None = None
    ) -> _Message:
        if author is None:
            author = session.customer_name if kind == "ToUser" else ASSOCIATES[session.user or _ME]
        message = _Message(self._next_id, session.id, kind, text, author, read, "None", None, posted)
        self._next_id += 1
        session.messages.append(message)
        return message


def _respond(request: web.Request, value: Any, *, root: str, item: str = "", status: int = 200) -> web.Response:
    if not wants_xml(request):
        return json_response(value, status)
    content_type = "text/xml" if "text/xml" in request.headers.get("Accept", "") else "application/xml"
    body = datacontract_xml(root, value, namespace=NAMESPACE, item=item)
    return web.Response(body=body, status=status, content_type=content_type)


def _error_response(request: web.Request, status: int, error_type: str, message: str) -> web.Response:
    body = {"Error": True, "ErrorType": error_type, "ErrorMessage": message, "ErrorSource": "SuperOffice.WebApi"}
    return _respond(request, body, root="Error", status=status)


def _error(request: web.Request, status: int, error_type: str, message: str) -> Reply:
    return Reply(_error_response(request, status, error_type, message))


def _xml_fields(raw: bytes) -> dict[str, Any]:
    """A ChatMessage's child elements by local name; ``i:nil`` children become None."""
    fields: dict[str, Any] = {}
    for child in parse_xml(raw):
        if isinstance(child.tag, str):
            nil = any(etree.QName(name).localname == "nil" and value == "true" for name, value in child.attrib.items())
            fields[local_name(child)] = None if nil else (child.text or "")
    return fields


async def _message_fields(request: web.Request) -> dict[str, Any]:
    raw, content_type = await request.read(), request.content_type
    try:
        if content_type in ("application/json", "text/json"):
            fields = json.loads(raw)
        elif content_type in ("application/xml", "text/xml"):
            fields = _xml_fields(raw)
            if isinstance(fields.get("ReadByCustomer"), str):
                fields["ReadByCustomer"] = strict_int(fields["ReadByCustomer"])
        else:
            raise _error(request, 415, "UnsupportedMediaTypeException", f"Unsupported Content-Type {content_type!r}")
    except (ValueError, etree.XMLSyntaxError):
        raise _error(request, 400, "ArgumentException", "The request body could not be parsed") from None
    if not isinstance(fields, dict):
        raise _error(request, 400, "ArgumentException", "The request body must be a ChatMessage")
    return _checked(request, fields)


def _checked(request: web.Request, fields: dict[str, Any]) -> dict[str, Any]:
    checked = {
        "Message": fields.get("Message"),
        "Type": fields.get("Type") or "ToCustomer",
        "Author": fields.get("Author"),
        "ReadByCustomer": 0 if fields.get("ReadByCustomer") is None else fields["ReadByCustomer"],
        "SpecialType": fields.get("SpecialType") or "None",
        "SpecialParam": fields.get("SpecialParam"),
    }
    if not isinstance(checked["Message"], str) or not checked["Message"]:
        raise _error(request, 400, "ArgumentException", "ChatMessage.Message is required")
    if checked["Type"] not in _TYPES:
        raise _error(request, 400, "ArgumentException", f"ChatMessage.Type must be one of {', '.join(_TYPES)}")
    if isinstance(checked["ReadByCustomer"], bool) or not isinstance(checked["ReadByCustomer"], int):
        raise _error(request, 400, "ArgumentException", "ChatMessage.ReadByCustomer must be an integer")
    return checked


def _query_int(request: web.Request, name: str, *, minimum: int | None = None) -> int | None:
    """The integer query parameter ``name``, None when absent; 400 when invalid."""
    if name not in request.query:
        return None
    value = strict_int(request.query[name])
    if value is None or (minimum is not None and value < minimum):
        raise _error(request, 400, "ArgumentException", f"Invalid value for {name}: {request.query[name]!r}")
    return value


class _Api:
    def __init__(self, store: SuperofficeStore) -> None:
        self._store = store

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get(f"{BASE_PATH}/ChatSession", self.list_sessions),
            web.get(f"{BASE_PATH}/ChatSession/{{session_id}}", self.get_session),
            web.get(f"{BASE_PATH}/ChatSession/{{session_id}}/Messages", self.list_messages),
            web.post(f"{BASE_PATH}/ChatSession/{{session_id}}/Messages", self.post_message),
            web.post(f"{BASE_PATH}/ChatSession/{{session_id}}/TransferTo/{{associate_id}}", self.transfer),
        ]

    async def list_sessions(self, request: web.Request) -> web.Response:
        sessions = self._store.sessions()
        top = _query_int(request, "$top", minimum=1)
        skip = _query_int(request, "$skip", minimum=0) or 0
        if top is None:
            top = max(len(sessions) - skip, 0)
        result: dict[str, Any] = {}
        if skip + top < len(sessions):
            origin = f"{request.scheme}://{request.host}"
            result["odata.nextLink"] = f"{origin}{request.path}?$top={top}&$skip={skip + top}"
        result["value"] = [session.render() for session in sessions[skip : skip + top]]
        # The XML shape of an OData page is inferred, not documented: <ODataResult> holding
        # <odata.nextLink> and <value> with one <ChatSession> per row.
        return _respond(request, result, root="ODataResult", item="ChatSession")

    async def get_session(self, request: web.Request) -> web.Response:
        return _respond(request, self._session(request).render(), root="ChatSession")

    async def list_messages(self, request: web.Request) -> web.Response:
        session = self._session(request)
        after = _query_int(request, "after")
        rows = [message.render() for message in session.messages if after is None or message.id > after]
        return _respond(request, rows, root="ArrayOfChatMessage", item="ChatMessage")

    async def post_message(self, request: web.Request) -> web.Response:
        session = self._session(request)
        fields = await _message_fields(request)
        return _respond(request, self._store.post(session, fields).render(), root="ChatMessage")

    async def transfer(self, request: web.Request) -> web.Response:
        session = self._session(request)
        associate_id = strict_int(request.match_info["associate_id"])
        if associate_id not in ASSOCIATES:
            missing = request.match_info["associate_id"]
            raise _error(request, 404, "SoNotFoundException", f"Associate {missing} not found")
        session.user = associate_id
        if not wants_xml(request):
            return json_response(True)
        body = f'<boolean xmlns="{_SERIALIZATION_NS}">true</boolean>'.encode()
        return web.Response(body=body, content_type="application/xml")

    def _session(self, request: web.Request) -> _Session:
        raw = request.match_info["session_id"]
        session = self._store.session(strict_int(raw))
        if session is None:
            raise _error(request, 404, "SoNotFoundException", f"ChatSession {raw} not found")
        return session


def _unauthorized(request: web.Request) -> web.Response:
    return _error_response(request, 401, "UnauthorizedAccessException", "Authentication failed")


def create_app(*, auth: str | Iterable[str] = DEMO_AUTH, clock: Clock = utc_now, seed: bool = True) -> web.Application:
    store = SuperofficeStore(clock)
    if seed:
        store.seed_default()
    accepted = frozenset([auth] if isinstance(auth, str) else auth)
    authorized = guard(lambda request: request.headers.get("Authorization") in accepted, _unauthorized)
    return build_app(store, _Api(store).routes(), guards=[authorized])


def env(base_url: str) -> dict[str, str]:
    return {"SUPEROFFICE_BASE_URL": base_url, "SUPEROFFICE_AUTH": DEMO_AUTH}
