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

from .redaction import Redactor

__all__ = ["JsonFormatter", "configure_logging", "ACCESS", "LIBRARY_LOGGERS"]

# Loggers of the libraries the gateway runs on: their lines go through the same handler.
LIBRARY_LOGGERS = ("aiohttp", "asyncio")

ACCESS = logging.getLogger("chat_gateway.access")
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def __init__(self, redact: Callable[[str], str] | None = None) -> None:
        super().__init__()
        self._redact = redact or Redactor()

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update({k: v for k, v in vars(record).items()
                      if k not in _STANDARD and k not in entry})  # extras never replace these
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exc"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps({k: self._redact(v) if isinstance(v, str) else v
                           for k, v in entry.items()}, ensure_ascii=False,
                          default=lambda v: self._redact(str(v)))


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
