"""Graceful drain of one gateway process, and the server's connection timeouts.

    SIGTERM → /readyz answers 503 at once, everything else is still served, for
              `pre_stop_seconds` (load balancers see the 503 and stop sending)
            → the listener closes: no new connections
            → in-flight canonical requests finish, for `grace_seconds` at most (each
              is bounded by its own deadline anyway)
            → connections close, the process exits 0
    SIGINT  → the same without the pre-stop delay (a person pressed Ctrl-C)

aiohttp's own `AppRunner.cleanup()` closes the listener first and then waits up to
`shutdown_timeout` per connection (then again to cancel), which is why a 16 s request
once kept a process alive 15.3 s against a documented 10 s; here the wait is ours and
`cleanup()` only gets a short remainder.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web

from ..config.model import ServerSettings
from .admission import InFlight

__all__ = ["runner_options", "drain"]

log = logging.getLogger("chat_gateway.process")
_CLEANUP_SECONDS = 1.0


def runner_options(settings: ServerSettings) -> dict[str, Any]:
    """`web.AppRunner` keywords: `keepalive_timeout` bounds an idle keep-alive connection
    and also one still sending its request headers (aiohttp 3.14 arms it when the
    connection opens and closes a connection whose request has not arrived by then)."""
    return {"keepalive_timeout": settings.keepalive_timeout_seconds,
            "shutdown_timeout": _CLEANUP_SECONDS}


async def drain(runner: web.AppRunner, in_flight: InFlight, settings: ServerSettings, *,
                pre_stop: bool) -> None:
    if pre_stop and settings.pre_stop_seconds > 0:
        log.info("draining: /readyz is 503; still serving",
                 extra={"pre_stop_seconds": settings.pre_stop_seconds})
        await asyncio.sleep(settings.pre_stop_seconds)
    for site in list(runner.sites):
        await site.stop()
    try:
        await asyncio.wait_for(in_flight.wait_idle(), settings.grace_seconds)
    except TimeoutError:
        log.warning("grace period over; cancelling requests still in flight",
                    extra={"in_flight": in_flight.count, "grace_seconds": settings.grace_seconds})
    await runner.cleanup()
