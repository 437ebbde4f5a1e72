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

import json
import logging
import sys
import time
from collections.abc import Callable
from typing import Any

import orjson

from .redaction import Redactor

__all__ = ["JsonFormatter", "configure_logging", "access_line", "ACCESS", "LIBRARY_LOGGERS"]

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
        second = int(record.created)
        if second != self._second:
            self._second = second
            self._stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        redact = self._redact
        entry: dict[str, Any] = {
            "ts": f"{self._stamp}.{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": redact(record.name),
            "msg": redact(record.getMessage()),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and key not in entry:  # extras never replace these
                entry[key] = redact(value) if isinstance(value, str) else value
        if record.exc_info:
            entry["exc"] = redact(self.formatException(record.exc_info))
        elif record.exc_text:
            entry["exc"] = redact(record.exc_text)
        if record.stack_info:
            entry["stack"] = redact(self.formatStack(record.stack_info))
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


def access_line(fields: dict[str, Any]) -> None:
    """The access line of one canonical call, at INFO. The record is made and handed
    to the logger's handlers directly: `Logger.info` would also look up the caller's
    file and line in the stack, which no line the gateway writes shows."""
    if ACCESS.isEnabledFor(logging.INFO):
        ACCESS.handle(ACCESS.makeRecord(ACCESS.name, logging.INFO, "", 0, "request", (), None,
                                        extra=fields))


def configure_logging(level: str, redact: Callable[[str], str] | None = None) -> None:
    """JSON lines on stderr for the gateway, aiohttp, asyncio and anything else (root)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(redact))
    for name in ("chat_gateway", *LIBRARY_LOGGERS):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level.upper())
        logger.propagate = False
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(max(logging.WARNING, logging.getLevelName(level.upper())))
