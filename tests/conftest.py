"""Shared fixtures: the five emulators on loopback and the gateway in front of them.

Everything is real: aiohttp servers on 127.0.0.1 ports, real HTTP between the test
client, the gateway and the emulators. Only the clock is injected where a test needs
to move time.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from gateway.emulators import RECORDED, STORE, start_emulators
from gateway.server import create_app

ROOT = Path(__file__).resolve().parent.parent
ROUTES = ROOT / "routes.yaml"
API_KEY = "test-api-key-0123456789"
SECRET = "test-cursor-secret-0123456789"
AUTH = {"Authorization": f"Bearer {API_KEY}"}


@pytest.fixture
async def emulators():
    running = await start_emulators("127.0.0.1")
    yield running
    await running.close()


# One attempt per upstream call and no gateway rate limit: tests of a single fault see
# exactly one exchange; tests/resilience/ turn retries and limits on where they test them.
QUIET = {"GATEWAY_UPSTREAM_ATTEMPTS": "1", "GATEWAY_RATE_LIMIT_RPS": "100000",
         "GATEWAY_RATE_LIMIT_BURST": "100000"}


@pytest.fixture
def gateway_env(emulators):
    return {**emulators.env(), "GATEWAY_API_KEYS": API_KEY, "GATEWAY_CURSOR_SECRET": SECRET,
            **QUIET}


class Clock:
    """A settable wall clock for cursor expiry."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def registry():
    return CollectorRegistry()


@pytest.fixture
async def gateway(aiohttp_client, gateway_env, registry, clock):
    app = create_app(ROUTES, gateway_env, registry=registry, clock=clock)
    return await aiohttp_client(app)


def store(emulators, name):
    return emulators.apps[name][STORE]


def recorded(emulators, name):
    return emulators.apps[name][RECORDED]


@pytest.fixture
def config_dir(tmp_path):
    """A copy of the shipped routes.yaml and mappings/ to break on purpose."""
    shutil.copy(ROUTES, tmp_path / "routes.yaml")
    shutil.copytree(ROOT / "mappings", tmp_path / "mappings")
    return tmp_path


def edit(path: Path, old: str, new: str) -> None:
    """Replace the first `old` in `path` with `new` (which must be there)."""
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))
