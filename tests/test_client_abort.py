"""A client that hangs up mid-upload is status 499 in the metrics and the access log
(nginx's "client closed request"), never a 500 nor an "unhandled error" line, whether
aiohttp cancels the handler (handler_cancellation=True) or lets the read fail (False,
as `chat-gateway serve` runs)."""

from __future__ import annotations

import asyncio
import logging

import pytest
from aiohttp import web

from gateway.server import create_app
from tests.conftest import API_KEY, ROUTES, recorded


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.access = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        if record.name == "chat_gateway.access":
            self.access.set()


@pytest.fixture
def collect():
    handler = Collect()
    loggers = [logging.getLogger(name) for name in ("chat_gateway", "aiohttp", "asyncio")]
    saved = [(lg.level, lg.propagate) for lg in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
    yield handler
    for logger, (level, _propagate) in zip(loggers, saved, strict=True):
        logger.removeHandler(handler)
        logger.setLevel(level)


@pytest.mark.parametrize("cancellation", [False, True], ids=["read-fails", "handler-cancelled"])
async def test_a_client_aborting_its_upload_is_499_not_500(gateway_env, emulators, registry,
                                                          collect, cancellation):
    app = create_app(ROUTES, gateway_env, registry=registry)
    runner = web.AppRunner(app, access_log=None, handler_cancellation=cancellation)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /v1/storeden/chats/49077/messages HTTP/1.1\r\nHost: gw\r\n"
                     b"Authorization: Bearer " + API_KEY.encode() + b"\r\n"
                     b"Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
                     b'{"text": "half of a body')
        await writer.drain()
        writer.close()
        await asyncio.wait_for(collect.access.wait(), 30)
    finally:
        await runner.cleanup()
    labels = {"upstream": "storeden", "operation": "send_message", "method": "POST"}
    assert registry.get_sample_value("chat_gateway_requests_total", {**labels, "code": "499"}) == 1
    assert registry.get_sample_value("chat_gateway_requests_total", {**labels, "code": "500"}) is None
    [access] = [r for r in collect.records if r.name == "chat_gateway.access"]
    assert access.status == 499
    assert [r for r in collect.records if r.levelno >= logging.ERROR] == []
    assert recorded(emulators, "storeden") == []
