"""The CLI as a user runs it: `demo` serves every call its banner advertises."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys

import aiohttp

from gateway.cli import DEMO_API_KEY
from gateway.emulators import DEMO_CALLS, EMULATORS
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
                assert {u["name"] for u in (await response.json())["data"]} == set(EMULATORS)
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        assert await asyncio.wait_for(proc.wait(), timeout=15) == 0


def _subcommands() -> list[str]:
    from contextlib import redirect_stdout
    from io import StringIO

    from gateway.cli import main

    with redirect_stdout(StringIO()) as out, contextlib.suppress(SystemExit):
        main(["--help"])
    return re.findall(r"^    (\S+)", out.getvalue(), re.M)


def test_every_option_of_every_command_has_help_and_shows_its_default(capsys):
    from gateway.cli import main

    commands = _subcommands()
    assert {"serve", "demo", "check"} <= set(commands)
    for command in commands:
        with contextlib.suppress(SystemExit):
            main([command, "--help"])
        text = capsys.readouterr().out
        options = re.findall(r"^  (--[a-z-]+)(?: [A-Z_]+)?( *)(.*)$", text, re.M)
        assert options, text
        for option, _gap, help_text in options:
            # an option's help starts on its own line or on the next one; never empty
            follows = text.split(option, 1)[1].split("\n", 2)
            assert help_text.strip() or follows[1].startswith(" " * 10), (command, option)
    with contextlib.suppress(SystemExit):
        main(["serve", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "(default: 1)" in text and "$GATEWAY_PORT or 8080" in text


def test_version():
    from gateway import __version__

    result = subprocess.run([sys.executable, "-m", "gateway", "--version"], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    assert result.stdout.startswith(f"chat-gateway {__version__} (Python ")
