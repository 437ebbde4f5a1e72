"""Machinery shared by the vendor emulators.

Every emulator app is built by :func:`build_app`, whose middleware stack reads top to
bottom in one place::

    record_requests → inject_faults → answer_replies → vendor guards (auth, …) → handler

so a request is recorded before anything can reject it, and faults fire before auth.
Handlers and guards answer early by raising :class:`Reply`.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal, Protocol, get_args

from aiohttp import typedefs, web
from lxml import etree
from multidict import CIMultiDict, CIMultiDictProxy

__all__ = [
    "FAULTS",
    "RECORDED",
    "STORE",
    "ChatStore",
    "Clock",
    "Fault",
    "FaultInjector",
    "FaultKind",
    "Handler",
    "Middleware",
    "RecordedRequest",
    "Reply",
    "bearer_token",
    "build_app",
    "datacontract_xml",
    "guard",
    "json_response",
    "local_name",
    "minute_times",
    "next_time",
    "object_xml",
    "parse_xml",
    "seed_directions",
    "seed_rng",
    "strict_int",
    "utc_now",
    "wants_xml",
]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Middleware = typedefs.Middleware
Clock = Callable[[], datetime]
FaultKind = Literal["delay", "status", "malformed", "drop"]


class ChatStore(Protocol):
    """The data store every emulator keeps under ``app[STORE]``; ids are strings."""

    def seed_messages(self, chat_id: str, count: int) -> None: ...
    def seed_chats(self, count: int) -> None: ...
    def message_ids_newest_first(self, chat_id: str) -> list[str]: ...
    def chat_ids(self) -> list[str]: ...
    def add_message(self, chat_id: str, text: str, inbound: bool = True) -> str: ...


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the emulator received it, before auth or faults."""

    method: str
    path: str
    query: list[tuple[str, str]]
    headers: CIMultiDictProxy[str]
    body: bytes
    raw_path: str = ""  # as sent, percent-encoding kept (`a%2Fb` stays, `path` reads a/b)


@dataclass
class Fault:
    kind: FaultKind
    path: re.Pattern[str] | None
    times: int
    delay: float
    status: int
    body: bytes | None
    content_type: str
    headers: Mapping[str, str] = field(default_factory=dict)
    chunked: bool = False

    def matches(self, path: str) -> bool:
        return self.path is None or self.path.search(path) is not None


class FaultInjector:
    """Faults to inject into the next matching requests, first added first served."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []

    def add(
        self,
        kind: FaultKind,
        *,
        path: str | None = None,
        times: int = 1,
        delay: float = 0.0,
        status: int = 500,
        body: bytes | None = None,
        content_type: str = "application/json",
        headers: Mapping[str, str] | None = None,
        chunked: bool = False,
    ) -> None:
        """Inject ``kind`` into the next ``times`` requests (-1: forever) whose path
        ``path`` (a regex) searches, or any path when None.

        ``delay`` sleeps then serves normally; ``status`` answers ``status`` with ``body``
        (and ``headers``, e.g. ``Retry-After``), with ``chunked`` in chunked transfer
        encoding (no Content-Length);
        ``malformed`` answers 200 with a truncated body in the format the request asked
        for; ``drop`` closes the connection unanswered. An aiohttp client silently
        retries an idempotent request once when a reused keep-alive connection drops,
        so use ``times=2`` or more to make a drop visible to such a client.
        """
        if kind not in get_args(FaultKind):
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {get_args(FaultKind)}")
        if times == 0 or times < -1:
            raise ValueError(f"times must be positive or -1 (forever), got {times}")
        pattern = re.compile(path) if path is not None else None
        self._faults.append(Fault(kind, pattern, times, delay, status, body, content_type,
                                  dict(headers or {}), chunked))

    def clear(self) -> None:
        self._faults.clear()

    @property
    def pending(self) -> list[Fault]:
        return list(self._faults)

    def take(self, path: str) -> Fault | None:
        """The fault to apply to a request for ``path``, counting it as used."""
        for fault in self._faults:
            if fault.matches(path):
                if fault.times > 0:
                    fault.times -= 1
                    if fault.times == 0:
                        self._faults.remove(fault)
                return fault
        return None


class Reply(Exception):
    """Raised by a handler or guard to answer at once with a ready response."""

    def __init__(self, response: web.StreamResponse) -> None:
        super().__init__(response.status)
        self.response = response


STORE: Final = web.AppKey("emulator_store", ChatStore)
RECORDED: Final = web.AppKey("emulator_recorded", list[RecordedRequest])
FAULTS: Final = web.AppKey("emulator_faults", FaultInjector)


@web.middleware
async def record_requests(request: web.Request, handler: Handler) -> web.StreamResponse:
    body = await request.read()
    request.app[RECORDED].append(
        RecordedRequest(
            method=request.method,
            path=request.path,
            query=list(request.query.items()),
            headers=CIMultiDictProxy(CIMultiDict(request.headers)),
            body=body,
            raw_path=request.raw_path.split("?", 1)[0],
        )
    )
    return await handler(request)


@web.middleware
async def inject_faults(request: web.Request, handler: Handler) -> web.StreamResponse:
    fault = request.app[FAULTS].take(request.path)
    if fault is None:
        return await handler(request)
    if fault.kind == "delay":
        await asyncio.sleep(fault.delay)
        return await handler(request)
    if fault.kind == "status":
        headers = {**fault.headers, "Content-Type": fault.content_type}
        if fault.chunked:
            stream = web.StreamResponse(status=fault.status, headers=headers)
            stream.enable_chunked_encoding()
            await stream.prepare(request)
            await stream.write(fault.body or b"")
            await stream.write_eof()
            return stream
        return web.Response(status=fault.status, body=fault.body or b"", headers=headers)
    if fault.kind == "malformed":
        return _malformed(request)
    # "drop": close the socket; aiohttp then fails to write the 500 and the client
    # sees a server disconnect.
    if request.transport is not None:
        request.transport.close()
    raise web.HTTPInternalServerError()


def _malformed(request: web.Request) -> web.Response:
    """A 200 whose body, in the format the client asked for, stops mid-document."""
    if wants_xml(request):
        truncated_xml = b'<?xml version="1.0"?>\n<object><status>1</status><data><id>7</i'
        xml_type = "text/xml" if "text/xml" in request.headers.get("Accept", "") else "application/xml"
        return web.Response(body=truncated_xml, content_type=xml_type)
    return web.Response(body=b'{"status": 1, "data": [{"id": 7, "message": "trunc', content_type="application/json")


@web.middleware
async def answer_replies(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except Reply as reply:
        return reply.response


def build_app(
    store: ChatStore, routes: Iterable[web.AbstractRouteDef], *, guards: Sequence[Middleware] = ()
) -> web.Application:
    """An emulator app with fresh recording and fault state around ``store``."""
    middlewares: list[Middleware] = [record_requests, inject_faults, answer_replies]
    middlewares.extend(guards)
    app = web.Application(middlewares=middlewares)
    app[STORE] = store
    app[RECORDED] = []
    app[FAULTS] = FaultInjector()
    app.add_routes(routes)
    return app


def guard(allow: Callable[[web.Request], bool], reject: Callable[[web.Request], web.StreamResponse]) -> Middleware:
    """A middleware answering ``reject(request)`` unless ``allow(request)``."""

    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not allow(request):
            return reject(request)
        return await handler(request)

    return check


def bearer_token(request: web.Request) -> str | None:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip() or None


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.Response(text=json.dumps(data, ensure_ascii=False), status=status, content_type="application/json")


def strict_int(text: str | None) -> int | None:
    """``text`` as an int if it is plain ASCII digits (optionally signed), else None."""
    if text is None or not re.fullmatch(r"[+-]?[0-9]+", text):
        return None
    return int(text)


def wants_xml(request: web.Request) -> bool:
    """Whether the Accept header names an XML type before any JSON type."""
    accept = request.headers.get("Accept", "").lower()
    xml_at, json_at = accept.find("xml"), accept.find("json")
    return xml_at >= 0 and (json_at < 0 or xml_at < json_at)


# --- XML -------------------------------------------------------------------------

XSI: Final = "http://www.w3.org/2001/XMLSchema-instance"


def _xml_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def object_xml(data: Mapping[str, Any], root: str = "object") -> bytes:
    """JSON-to-XML converter convention: each key an element, each list item a
    repeated element named after the list's key, null an empty element."""
    element = etree.Element(root)
    _add_converted(element, data)
    return b'<?xml version="1.0"?>\n' + etree.tostring(element, encoding="utf-8")


def _add_converted(parent: etree._Element, data: Mapping[str, Any]) -> None:
    for key, value in data.items():
        for item in value if isinstance(value, list) else [value]:
            child = etree.SubElement(parent, key)
            if isinstance(item, Mapping):
                _add_converted(child, item)
            elif item is not None:
                child.text = _xml_text(item)


def datacontract_xml(root: str, value: Mapping[str, Any] | list[Any], *, namespace: str, item: str = "") -> bytes:
    """.NET DataContract convention: elements named like the properties, lists hold
    ``item`` elements, nulls are ``i:nil="true"``, default namespace on the root."""
    element = etree.Element(etree.QName(namespace, root), nsmap={None: namespace, "i": XSI})
    _add_contract(element, value, namespace, item)
    return etree.tostring(element, encoding="utf-8")


def _add_contract(element: etree._Element, value: Any, namespace: str, item: str) -> None:
    if value is None:
        element.set(etree.QName(XSI, "nil"), "true")
    elif isinstance(value, Mapping):
        for key, child_value in value.items():
            _add_contract(etree.SubElement(element, etree.QName(namespace, key)), child_value, namespace, item)
    elif isinstance(value, list):
        for child_value in value:
            _add_contract(etree.SubElement(element, etree.QName(namespace, item)), child_value, namespace, item)
    else:
        element.text = _xml_text(value)


def parse_xml(body: bytes) -> etree._Element:
    """Parse an untrusted XML body: no entities, no DTD, no network."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    return etree.fromstring(body, parser)


def local_name(element: etree._Element) -> str:
    return etree.QName(element).localname


# --- deterministic seeding and time ------------------------------------------------


def utc_now() -> datetime:
    return datetime.now(UTC)


def seed_rng(*parts: object) -> random.Random:
    """A private generator whose sequence depends only on ``parts``."""
    return random.Random(":".join(map(str, parts)))


def seed_directions(rng: random.Random, count: int) -> list[bool]:
    """Oldest-first inbound flags: the customer opens, then a mix of both."""
    flags = [index == 0 or rng.random() < 0.5 for index in range(count)]
    if count >= 2 and all(flags):
        flags[-1] = False
    return flags


def minute_times(newest: datetime, count: int) -> list[datetime]:
    """``count`` instants one minute apart, oldest first, ending at ``newest``."""
    return [newest - timedelta(minutes=count - 1 - index) for index in range(count)]


def next_time(latest: datetime | None, now: datetime) -> datetime:
    """The time for a new newest message: now, but strictly after ``latest``."""
    if latest is None or now >= latest + timedelta(seconds=1):
        return now
    return latest + timedelta(seconds=1)
