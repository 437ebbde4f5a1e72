"""Helpers for the resilience tests: a routes.yaml with some keys changed, and a gateway
on it, in front of the real emulators."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from gateway.server import create_app
from tests.conftest import ROUTES


def routes_file(tmp_path: Path, **sections) -> Path:
    """The shipped routes.yaml with top-level sections replaced (dicts are merged one level)."""
    text = ROUTES.read_text().replace("mappings/", str(ROUTES.parent / "mappings") + "/")
    for name, value in sections.items():
        block = re.compile(rf"^{name}:.*?(?=^\S)", re.S | re.M)
        rendered = yaml.safe_dump({name: value}, sort_keys=False)
        if block.search(text):  # a function, so backslashes in the YAML stay literal
            text = block.sub(lambda _, whole=rendered: whole, text, count=1)
        else:
            text = rendered + text
    path = tmp_path / "routes.yaml"
    path.write_text(text)
    return path


@pytest.fixture
def make_gateway(aiohttp_client, gateway_env, registry, tmp_path):
    async def make(env=None, **sections):
        path = routes_file(tmp_path, **sections) if sections else ROUTES
        app = create_app(path, {**gateway_env, **(env or {})}, registry=registry)
        return await aiohttp_client(app)
    return make


def sample(text: str, name: str, **labels) -> float:
    """One sample's value in a Prometheus text exposition (0 when absent)."""
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        head, _, value = line.rpartition(" ")
        if all(f'{k}="{v}"' in head for k, v in labels.items()):
            return float(value)
    return 0.0


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    """Debian's redis-server on a free loopback port, for this test session (never the
    system service). Yields its URL."""
    import shutil
    import socket
    import subprocess
    import time

    binary = shutil.which("redis-server")
    assert binary, "redis-server is not installed: apt-get install redis-server (see .ci/run)"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    folder = tmp_path_factory.mktemp("redis")
    process = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1",
                                "--save", "", "--appendonly", "no", "--dir", str(folder)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(16).startswith(b"+PONG"):
                        break
            except OSError:
                time.sleep(0.05)
        else:
            raise RuntimeError("redis-server did not start")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
async def redis_url(redis_server):
    import redis.asyncio

    client = redis.asyncio.from_url(redis_server)
    await client.flushdb()
    await client.aclose()
    return redis_server
