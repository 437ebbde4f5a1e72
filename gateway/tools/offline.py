"""The real gateway, driven in-process without sockets, with its upstream exchanges
scripted or recorded — for mapping fixtures (`test-mappings`) and `try`.

    InProcessGateway.call()  →  every middleware, pipeline.handle() (auth → route →
        input → build → call → decode → map → paginate → render)  →  UpstreamClient
        →  the injected session: ScriptedSession (answers from a script) or
           RecordingSession (a real aiohttp session, each exchange recorded)

Only the session is swapped: the request is built, sent, decoded, classified, mapped and
paginated by the same code that serves production traffic.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.streams import StreamReader
from aiohttp.test_utils import make_mocked_request
from multidict import CIMultiDict, CIMultiDictProxy
from prometheus_client import CollectorRegistry
from yarl import URL

__all__ = ["Answer", "CanonicalAnswer", "Exchange", "InProcessGateway", "RecordingSession",
           "ScriptedSession", "FIXED_CLOCK"]

FIXED_CLOCK = 1_800_000_000.0  # cursors signed at a fixed time read the same in every run
_FAULTS = ("timeout", "disconnect", "refused")


@dataclass(frozen=True)
class Answer:
    """One scripted upstream answer, or a transport `fault` (timeout, disconnect, refused)."""

    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    fault: str | None = None


@dataclass
class Exchange:
    """One upstream request as the gateway sent it, and what came back."""

    method: str
    url: URL
    headers: Mapping[str, str]
    body: bytes | None
    answer: Answer | None = None


class _Content:
    def __init__(self, body: bytes) -> None:
        self._body = body

    async def iter_chunked(self, size: int) -> AsyncIterator[bytes]:
        for start in range(0, len(self._body), size):
            yield self._body[start:start + size]

    async def read(self, n: int = -1) -> bytes:
        return self._body


class _BufferedResponse:
    """The part of `aiohttp.ClientResponse` the upstream client reads, over a whole body."""

    def __init__(self, answer: Answer) -> None:
        self.status = answer.status
        self.reason = web.Response(status=answer.status).reason
        self.headers = CIMultiDictProxy(CIMultiDict(answer.headers))
        mime, _, params = self.headers.get("Content-Type", "application/octet-stream").partition(";")
        self.content_type = mime.strip().lower()
        self.charset = next((p.split("=", 1)[1].strip() for p in params.split(";") if "charset=" in p), None)
        self.content = _Content(answer.body)
        self._body = answer.body
        self.content_length = len(answer.body)  # a buffered answer always knows its length

    async def read(self) -> bytes:
        return self._body

    async def text(self, encoding: str | None = None) -> str:
        return self._body.decode(encoding or self.charset or "utf-8", "replace")

    async def json(self, **_: Any) -> Any:
        return json.loads(self._body)

    def release(self) -> None:
        pass

    async def __aenter__(self) -> _BufferedResponse:
        return self

    async def __aexit__(self, *exc: object) -> None:
        pass


class _Pending:
    def __init__(self, answer: Callable[[], Any]) -> None:
        self._answer = answer

    def __await__(self) -> Generator[Any, None, _BufferedResponse]:
        return self._answer().__await__()  # type: ignore[no-any-return]

    async def __aenter__(self) -> _BufferedResponse:
        response: _BufferedResponse = await self._answer()
        return response

    async def __aexit__(self, *exc: object) -> None:
        pass


def _raise_fault(fault: str, url: URL) -> None:
    if fault == "timeout":
        raise asyncio.TimeoutError()
    if fault == "disconnect":
        raise aiohttp.ServerDisconnectedError()
    key = aiohttp.client_reqrep.ConnectionKey(url.host or "", url.port or 0, False, True, None, None, None)
    raise aiohttp.ClientConnectorError(key, ConnectionRefusedError(111, "Connection refused"))


class ScriptedSession:
    """Stands in for `aiohttp.ClientSession`: answers the gateway's upstream requests, in
    order, from `answers`; a request beyond the script gets a 599 saying so."""

    closed = False

    def __init__(self, answers: Sequence[Answer] = ()) -> None:
        self.answers = list(answers)
        self.exchanges: list[Exchange] = []

    def request(self, method: str, url: URL | str, *, headers: Mapping[str, str] | None = None,
                data: bytes | None = None, **_: Any) -> _Pending:
        async def answer() -> _BufferedResponse:
            exchange = Exchange(method, URL(url), dict(headers or {}), data)
            self.exchanges.append(exchange)
            index = len(self.exchanges) - 1
            exchange.answer = self.answers[index] if index < len(self.answers) else Answer(
                599, {"Content-Type": "text/plain"}, b"no answer scripted for this request")
            if exchange.answer.fault is not None:
                _raise_fault(exchange.answer.fault, exchange.url)
            return _BufferedResponse(exchange.answer)
        return _Pending(answer)

    async def close(self) -> None:
        pass


class RecordingSession:
    """A real `aiohttp.ClientSession` whose exchanges are read whole and recorded."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self._session = session
        self.exchanges: list[Exchange] = []

    @property
    def closed(self) -> bool:
        return self._session.closed

    def request(self, method: str, url: URL | str, *, headers: Mapping[str, str] | None = None,
                data: bytes | None = None, **options: Any) -> _Pending:
        async def answer() -> _BufferedResponse:
            exchange = Exchange(method, URL(url), dict(headers or {}), data)
            self.exchanges.append(exchange)
            try:
                async with self._session.request(method, url, headers=headers, data=data,
                                                 **options) as response:
                    body = await response.read()
                    exchange.answer = Answer(response.status, dict(response.headers), body)
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                exchange.answer = Answer(0, {}, type(exc).__name__.encode(), fault=type(exc).__name__)
                raise
            return _BufferedResponse(exchange.answer)
        return _Pending(answer)

    async def close(self) -> None:
        await self._session.close()


@dataclass(frozen=True)
class CanonicalAnswer:
    status: int
    headers: Mapping[str, str]
    body: Any  # decoded JSON, or None for an empty answer


class _NoFlowControl:
    _reading_paused = False

    def pause_reading(self, **_: Any) -> None:
        pass

    def resume_reading(self, **_: Any) -> None:
        pass


class InProcessGateway:
    """`create_app()` of `config_path`, started, and called without a socket."""

    def __init__(self, config_path: str | Path, env: Mapping[str, str], session: Any,
                 clock: Callable[[], float] = lambda: FIXED_CLOCK) -> None:
        from ..server import create_app

        self.app = create_app(config_path, env, registry=CollectorRegistry(), clock=clock,
                              session=session)

    async def __aenter__(self) -> InProcessGateway:
        self.app.freeze()
        await self.app.startup()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.app.cleanup()

    async def call(self, method: str, path: str, *, query: Mapping[str, str] | None = None,
                   body: Any = None, headers: Mapping[str, str] | None = None) -> CanonicalAnswer:
        url = URL(path).with_query(dict(query or {}))
        sent = CIMultiDict(headers or {})
        payload = StreamReader(_NoFlowControl(), 2**16, loop=asyncio.get_running_loop())  # type: ignore[arg-type]
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
            sent.setdefault("Content-Type", "application/json")
            sent["Content-Length"] = str(len(data))
            payload.feed_data(data)
        payload.feed_eof()
        request = make_mocked_request(method, str(url), headers=sent, app=self.app, payload=payload,
                                      client_max_size=self.app._client_max_size)
        response = await self.app._handle(request)
        raw = response.body if isinstance(response, web.Response) else b""
        text = raw.decode() if isinstance(raw, bytes) else ""
        return CanonicalAnswer(response.status, dict(response.headers), json.loads(text) if text else None)
