"""Structured JSON logs: one line per event, one access line per canonical call.

Access lines carry request id, consumer name, route, operation, method, the matched
route *template* (never the raw path), status, duration and upstream calls — never
credentials, API keys, query strings or message text.

Every line on stderr is JSON, aiohttp's and asyncio's too (a parser error's traceback
included), and every text in it passes the config's `Redactor`: configured secrets in
their common encodings, and any `Authorization` value a client sent, never reach a log.
A client that hangs up mid-request is status 499 (nginx's "client closed request").
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any

import orjson

from .redaction import Redactor

__all__ = ["JsonFormatter", "JsonLineHandler", "configure_logging", "access_line", "ACCESS", "LIBRARY_LOGGERS"]

# Loggers of the libraries the gateway runs on: their lines go through the same handler.
LIBRARY_LOGGERS = ("aiohttp", "asyncio")

ACCESS = logging.getLogger("chat_gateway.access")
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record. Built for the access line's rate: the timestamp's
    seconds are formatted once per second, strings go through the redactor once per
    distinct text (`_Memo`), and the line is written by orjson (by `json` when orjson
    refuses a value: a lone surrogate, an integer beyond 64 bits)."""

    def __init__(self, redact: Callable[[str], str] | None = None) -> None:
        super().__init__()
        self._redact = _Memo(redact or Redactor())
        self._second = -1
        self._stamp = ""

    def format(self, record: logging.LogRecord) -> str:
        entry = self._head(record.created, record.levelname.lower(), record.name,
                           record.getMessage())
        self._extras(entry, (kv for kv in record.__dict__.items() if kv[0] not in _STANDARD))
        redact = self._redact
        if record.exc_info:
            entry["exc"] = redact(self.formatException(record.exc_info))
        elif record.exc_text:
            entry["exc"] = redact(record.exc_text)
        if record.stack_info:
            entry["stack"] = redact(self.formatStack(record.stack_info))
        return self._dumps(entry)

    def fields_line(self, created: float, level: str, name: str, msg: str,
                    fields: dict[str, Any]) -> str:
        """The line `format` writes for a record of these fields (as `extra`), made
        without the record."""
        entry = self._head(created, level, name, msg)
        self._extras(entry, fields.items())
        return self._dumps(entry)

    def _extras(self, entry: dict[str, Any], items: Iterable[tuple[str, Any]]) -> None:
        """Extra fields, texts redacted; they never replace the line's own keys."""
        redact = self._redact
        for key, value in items:
            if key not in entry:
                entry[key] = redact(value) if isinstance(value, str) else value

    def _head(self, created: float, level: str, name: str, msg: str) -> dict[str, Any]:
        second = int(created)
        if second != self._second:
            self._second = second
            self._stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        redact = self._redact
        return {"ts": f"{self._stamp}.{int((created - second) * 1000):03d}Z", "level": level,
                "logger": redact(name), "msg": redact(msg)}

    def _dumps(self, entry: dict[str, Any]) -> str:
        try:
            return orjson.dumps(entry, default=self._other).decode()
        except TypeError:
            return json.dumps(entry, ensure_ascii=False, default=self._other)

    def _other(self, value: Any) -> str:
        """Any other value (a str subclass, an object) as its redacted text."""
        return self._redact(str(value))


class _Memo:
    """The redactor with its answers for short texts kept: an access line repeats the
    same few names (consumer, upstream, operation, method, route) on every request, and
    each would otherwise be one regular-expression pass. Bounded: cleared when full."""

    __slots__ = ("_redact", "_seen")
    _LONGEST, _MOST = 128, 4096

    def __init__(self, redact: Callable[[str], str]) -> None:
        self._redact = redact
        self._seen: dict[str, str] = {}

    def __call__(self, text: str) -> str:
        done = self._seen.get(text)
        if done is None:
            done = self._redact(text)
            if len(text) <= self._LONGEST:
                if len(self._seen) >= self._MOST:
                    self._seen.clear()
                self._seen[text] = done
        return done


class JsonLineHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The gateway's stderr handler. Access lines take a short way in (`write_fields`):
    no `LogRecord`, and the lines of one event-loop turn are written together, once the
    turn's callbacks have run — one write(2) for many requests under load. Anything
    else logged, and `flush()` (logging's shutdown calls it at exit), writes the waiting
    lines first, so the order of lines is the order of events."""

    formatter: JsonFormatter

    def __init__(self, stream: Any, formatter: JsonFormatter) -> None:
        super().__init__(stream)
        self.setFormatter(formatter)
        self._waiting: list[str] = []
        self._loop: asyncio.AbstractEventLoop | None = None  # where the write is scheduled

    def write_fields(self, level: str, name: str, msg: str, fields: dict[str, Any]) -> None:
        self._waiting.append(self.formatter.fields_line(time.time(), level, name, msg, fields))
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop to wait for: now
            self.write_waiting()
            return
        if loop is not self._loop:  # the first line of this turn (or of a new loop)
            self._loop = loop
            loop.call_soon(self.write_waiting)

    def write_waiting(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            self._loop = None
            if self._waiting:
                lines, self._waiting = self._waiting, []
                try:
                    self.stream.write("\n".join(lines) + "\n")
                    self.stream.flush()
                except Exception:  # as emit() does: reported on stderr, never raised
                    self.handleError(logging.makeLogRecord(
                        {"msg": f"{len(lines)} access line(s) not written"}))

    def emit(self, record: logging.LogRecord) -> None:
        if self._waiting:
            self.write_waiting()
        super().emit(record)

    def flush(self) -> None:
        if self._waiting:
            self.write_waiting()
        super().flush()


def access_line(fields: dict[str, Any]) -> None:
    """The access line of one canonical call, at INFO. Where the line goes only to the
    gateway's own handler (as `configure_logging` sets up), it is handed to it directly
    (`JsonLineHandler.write_fields`); otherwise as a record, like any other: a handler
    someone added sees every line."""
    if ACCESS.isEnabledFor(logging.INFO):
        handler = _only_handler()
        if handler is not None:
            handler.write_fields("info", ACCESS.name, "request", fields)
            return
        ACCESS.handle(ACCESS.makeRecord(ACCESS.name, logging.INFO, "", 0, "request", (), None,
                                        extra=fields))


def _only_handler() -> JsonLineHandler | None:
    """The `JsonLineHandler` an access record would reach, if it is the only place it
    goes and nothing filters it on the way."""
    parent = ACCESS.parent
    if ACCESS.handlers or ACCESS.filters or not ACCESS.propagate or parent is None:
        return None
    handlers = parent.handlers
    if len(handlers) != 1 or parent.filters or parent.propagate:
        return None
    handler = handlers[0]
    if (type(handler) is not JsonLineHandler or handler.filters
            or handler.level > logging.INFO):
        return None
    return handler


def configure_logging(level: str, redact: Callable[[str], str] | None = None) -> None:
    """JSON lines on stderr for the gateway, aiohttp, asyncio and anything else (root)."""
    handler = JsonLineHandler(sys.stderr, JsonFormatter(redact))
    for name in ("chat_gateway", *LIBRARY_LOGGERS):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level.upper())
        logger.propagate = False
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(max(logging.WARNING, logging.getLevelName(level.upper())))
