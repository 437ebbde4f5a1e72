"""The real `chat-gateway serve` in a subprocess: graceful drain on SIGTERM, and the
server's connection timeouts against slow and idle raw sockets."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest

from gateway.emulators import FAULTS
from tests.conftest import AUTH, ROOT, recorded
from tests.resilience.conftest import routes_file
from tests.test_workers import _wait_listening, free_port


@contextlib.asynccontextmanager
async def serving(gateway_env, tmp_path, **sections) -> AsyncIterator[tuple[str, subprocess.Popen]]:
    port = free_port()
    config = routes_file(tmp_path, **sections)
    log, banners = tmp_path / "gateway.log", tmp_path / "gateway.stdout"
    with open(log, "wb") as stderr, open(banners, "wb") as stdout:
        process = subprocess.Popen(
            [sys.executable, "-m", "gateway", "serve", "--config", str(config),
             "--host", "127.0.0.1", "--port", str(port)],
            env={**os.environ, **gateway_env}, cwd=ROOT, stdout=stdout, stderr=stderr,
            start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        await _wait_listening(process, url, log, banners, 1)
        yield url, process
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


async def fresh_get(url: str, headers=None) -> int:
    connector = aiohttp.TCPConnector(force_close=True)
    async with aiohttp.ClientSession(connector=connector) as session:
        async with session.get(url, headers=headers) as response:
            await response.read()
            return response.status


async def wait_exit(process: subprocess.Popen, seconds: float) -> int | None:
    end = time.monotonic() + seconds
    while process.poll() is None and time.monotonic() < end:
        await asyncio.sleep(0.05)
    return process.poll()


async def test_sigterm_under_load_drains_without_failing_a_request(gateway_env, emulators,
                                                                   tmp_path):
    emulators.apps["hapihub"][FAULTS].add("delay", delay=1.0, times=-1)
    async with serving(gateway_env, tmp_path,
                       server={"pre_stop_seconds": 1.5, "grace_seconds": 10}) as (url, process):
        chat = f"{url}/v1/hapihub/chats/room-001"
        load = [asyncio.create_task(fresh_get(chat, AUTH)) for _ in range(8)]
        while len(recorded(emulators, "hapihub")) < 8:  # all eight reached the upstream
            await asyncio.sleep(0.02)
        os.killpg(process.pid, signal.SIGTERM)
        assert await fresh_get(f"{url}/readyz") == 503  # at once, while still listening
        during = await fresh_get(chat, AUTH)  # accepted during the pre-stop delay: served
        code = await wait_exit(process, 30)
        statuses = await asyncio.gather(*load)
    assert statuses == [200] * 8 and during == 200
    assert code == 0


async def test_a_request_longer_than_the_grace_is_cut_and_the_process_still_exits_0(
        gateway_env, emulators, tmp_path):
    emulators.apps["hapihub"][FAULTS].add("delay", delay=8, times=-1)
    async with serving(gateway_env, tmp_path, server={"pre_stop_seconds": 0,
                                                      "grace_seconds": 1},
                       resilience={"deadline_seconds": 60}) as (url, process):
        slow = asyncio.create_task(fresh_get(f"{url}/v1/hapihub/chats/room-001", AUTH))
        while not recorded(emulators, "hapihub"):
            await asyncio.sleep(0.05)
        started = time.monotonic()
        os.killpg(process.pid, signal.SIGTERM)
        code = await wait_exit(process, 20)
        took = time.monotonic() - started
        with contextlib.suppress(aiohttp.ClientError):
            await slow
    assert code == 0
    # 1 s grace + 1 s to close connections; the request alone would have taken 8 s
    assert took < 6, f"the process outlived its 1 s grace by far: {took:.1f} s"


async def test_slow_headers_and_idle_keepalive_are_closed(gateway_env, emulators, tmp_path):
    async with serving(gateway_env, tmp_path,
                       server={"keepalive_timeout_seconds": 1}) as (url, process):
        port = int(url.rsplit(":", 1)[1])
        # slowloris: a byte of headers every 0.2 s, never finishing
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        request = b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"X-Slow: " + b"a" * 200
        closed = False
        for byte in request:
            try:
                writer.write(bytes([byte]))
                await writer.drain()
            except ConnectionError:
                closed = True
                break
            try:
                if await asyncio.wait_for(reader.read(1), 0.2) == b"":
                    closed = True
                    break
            except asyncio.TimeoutError:
                pass
            except ConnectionError:  # a reset: the server closed while bytes were in flight
                closed = True
                break
        writer.close()
        assert closed, "the server kept a connection whose headers never finished"

        # idle keep-alive: one request, then silence
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        assert head.startswith(b"HTTP/1.1 200")
        length = int([h for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")]
                     [0].split(b":")[1])
        await reader.readexactly(length)
        assert await asyncio.wait_for(reader.read(1), 20) == b""  # closed by the server
        writer.close()


@pytest.mark.parametrize("keyed", [False, True], ids=["plain", "idempotency-key"])
async def test_a_body_that_stalls_is_408(gateway_env, emulators, tmp_path, keyed):
    async with serving(gateway_env, tmp_path,
                       server={"body_timeout_seconds": 1}) as (url, process):
        port = int(url.rsplit(":", 1)[1])
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        key = b'Idempotency-Key: "slow-body"\r\n' if keyed else b""
        writer.write(b"POST /v1/hapihub/chats/room-001/messages HTTP/1.1\r\nHost: x\r\n"
                     b"Authorization: " + AUTH["Authorization"].encode() + b"\r\n" + key +
                     b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
                     b'{"text": "sl')  # and then nothing more
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 20)
        writer.close()
    assert head.startswith(b"HTTP/1.1 408"), head
    assert not [r for r in recorded(emulators, "hapihub") if r.method == "POST"]
