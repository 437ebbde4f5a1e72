"""The CLI as a user runs it: `demo` serves every call its banner advertises."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys

import aiohttp

from gateway.cli import DEMO_API_KEY
from gateway.emulators import DEMO_CALLS
from tests.conftest import ROOT


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_demo_serves_every_advertised_call():
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway", "demo", "--port", str(port), cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
        env={k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")},
        start_new_session=True)
    try:
        first = await asyncio.wait_for(proc.stdout.readline(), timeout=30)
        assert first.decode().startswith(f"chat-gateway demo on http://127.0.0.1:{port}")
        auth = {"Authorization": f"Bearer {DEMO_API_KEY}"}
        async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as session:
            for method, path, body in DEMO_CALLS:
                async with session.request(method, path, headers=auth,
                                           json=json.loads(body) if body else None) as response:
                    assert response.status in (200, 201), (path, await response.text())
            async with session.get("/v1/upstreams", headers=auth) as response:
                assert len((await response.json())["data"]) == 5
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        assert await asyncio.wait_for(proc.wait(), timeout=15) == 0
