"""Structured JSON logs: one line per event, one access line per canonical call.

Access lines carry request id, consumer name, route, operation, method, the matched
route *template* (never the raw path), status, duration and upstream calls — never
credentials, API keys, query strings or message text.
"""

from __future__ import annotations

import json
import logging
import sys
import time

__all__ = ["JsonFormatter", "configure_logging", "ACCESS"]

ACCESS = logging.getLogger("chat_gateway.access")
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
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
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger("chat_gateway")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
