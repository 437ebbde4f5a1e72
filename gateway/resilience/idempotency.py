"""Idempotency-Key (IETF httpapi draft) on canonical POST and PATCH.

    first request with a key  → claimed; runs; its answer is kept for `ttl_seconds`
    same key, same request    → the kept answer, replayed (`Idempotent-Replayed: true`)
    same key, other request   → 422 idempotency-key-reused
    same key, still running   → 409 idempotency-key-in-use
    malformed key             → 400 naming the header

Keys are scoped per consumer; "the same request" is the same method, path and JSON body.
What is kept decides whether the client's retry can cause a second send:

- every 2xx answer;
- any answer once a non-idempotent upstream request may have reached the upstream — a
  timeout or dropped connection then is ambiguous (the upstream may have stored it), so
  the 504/502 is replayed rather than risking a second send; use a new key to send anew;
- not kept (the key is free again): an answer given before any such request left (bad
  input, circuit open, connection refused, rate limited), or when the upstream answered
  that request 429 or 503, which says it did not act on it.

Records live in a `KeyStore`: in this process, or in Redis so replicas share them.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Protocol

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from ..canonical import OPERATIONS
from ..errors import IdempotencyConflict, IdempotencyMismatch, InvalidRequest, Unauthorized
from .admission import read_body
from .deadline import Budget

__all__ = ["HEADER", "Record", "KeyStore", "MemoryKeyStore", "parse_key", "fingerprint",
           "idempotency_middleware", "keep"]

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
_KEPT_HEADERS = ("Content-Type", "Retry-After", "Location")


@dataclass
class Record:
    fingerprint: str
    token: str  # who claimed it (a pending record is released only by its owner)
    status: int | None = None  # None: still in flight
    headers: dict[str, str] | None = None
    body: str = ""  # base64

    def dumps(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def loads(cls, text: str | bytes) -> Record:
        return cls(**json.loads(text))


class KeyStore(Protocol):
    async def claim(self, scope: str, record: Record, lock_seconds: float) -> Record | None:
        """Store `record` (pending) unless the scope has one: return that one, else None."""

    async def save(self, scope: str, record: Record, ttl_seconds: float) -> None: ...

    async def release(self, scope: str, token: str) -> None: ...


class MemoryKeyStore:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._records: dict[str, tuple[float, Record]] = {}

    async def claim(self, scope: str, record: Record, lock_seconds: float) -> Record | None:
        now = self._clock()
        held = self._records.get(scope)
        if held is not None and held[0] > now:
            return held[1]
        if len(self._records) > 10_000:
            self._records = {k: v for k, v in self._records.items() if v[0] > now}
        self._records[scope] = (now + lock_seconds, record)
        return None

    async def save(self, scope: str, record: Record, ttl_seconds: float) -> None:
        self._records[scope] = (self._clock() + ttl_seconds, record)

    async def release(self, scope: str, token: str) -> None:
        held = self._records.get(scope)
        if held is not None and held[1].token == token and held[1].status is None:
            del self._records[scope]


def parse_key(value: str) -> str:
    """The key: an sf-string (`"…"`, as the draft writes it) or the bare characters."""
    text = value.strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        text = text[1:-1]
    if not 1 <= len(text) <= 255 or any(not 0x20 <= ord(c) <= 0x7E or c in '"\\' for c in text):
        raise InvalidRequest(f"{HEADER} must be 1 to 255 printable ASCII characters, "
                             'as a quoted string ("…")', field=HEADER)
    return text


def fingerprint(method: str, path: str, body: bytes) -> str:
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except ValueError:
        canonical = body
    return hashlib.sha256(b"\n".join([method.encode(), path.encode(), canonical])).hexdigest()


def keep(status: int, budget: Budget | None) -> bool:
    """Whether an answer is final for its key (see the module docstring)."""
    if 200 <= status < 300:
        return True
    if budget is None or not budget.unsafe_sent:
        return False
    return budget.unsafe_answered not in (429, 503)


def idempotency_middleware(consumer_of: Callable[[web.Request], str],
                           store_of: Callable[[web.Request], KeyStore],
                           settings_of: Callable[[web.Request], tuple[float, float]],
                           budget_key: web.RequestKey[Budget], new_token: Callable[[], str],
                           count: Callable[[web.Request, str], None],
                           body_seconds: Callable[[web.Request], float]) -> Middleware:
    """The middleware; `handler` inside it must answer problems as responses.
    `settings_of(request)` is (ttl, lock) seconds."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        raw = request.headers.get(HEADER)
        route = request.match_info.route.name
        if raw is None or request.method not in ("POST", "PATCH") or route not in OPERATIONS:
            return await handler(request)
        key = parse_key(raw)
        try:
            scope = f"{consumer_of(request)}\n{key}"
        except Unauthorized:  # the pipeline answers it, as it does for every request
            return await handler(request)
        ttl, lock = settings_of(request)
        store = store_of(request)
        mine = Record(fingerprint(request.method, request.path,
                                  await read_body(request, body_seconds(request))),
                      new_token())
        held = await store.claim(scope, mine, lock)
        if held is not None:
            return _answer_held(request, held, mine, count)
        count(request, "new")
        try:
            response = await handler(request)
        except BaseException:
            await store.release(scope, mine.token)
            raise
        if isinstance(response, web.Response) and keep(response.status,
                                                        request.get(budget_key)):
            await store.save(scope, _recorded(mine, response), ttl)
        else:
            count(request, "released")
            await store.release(scope, mine.token)
        return response

    return middleware


def _answer_held(request: web.Request, held: Record, mine: Record,
                 count: Callable[[web.Request, str], None]) -> web.Response:
    if held.fingerprint != mine.fingerprint:
        count(request, "mismatch")
        raise IdempotencyMismatch(f"this {HEADER} was used for a different request; "
                                  "use a new key for a new request")
    if held.status is None:
        count(request, "in_flight")
        raise IdempotencyConflict(f"a request with this {HEADER} is still being answered; "
                                  "retry later")
    count(request, "replayed")
    headers = {**(held.headers or {}), REPLAYED: "true"}
    return web.Response(status=held.status, body=base64.b64decode(held.body), headers=headers)


def _recorded(mine: Record, response: web.Response) -> Record:
    body = response.body if isinstance(response.body, bytes) else b""
    headers = {k: response.headers[k] for k in _KEPT_HEADERS if k in response.headers}
    return Record(mine.fingerprint, mine.token, response.status, headers,
                  base64.b64encode(body).decode())
