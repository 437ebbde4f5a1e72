"""Fixtures for the emulator tests: a real-HTTP test client per emulator."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from gateway.emulators import EMULATORS

# Demo credentials each emulator accepts by default.
AUTH: dict[str, dict[str, str]] = {
    "spurtcommerce": {"Authorization": "Bearer demo-spurtcommerce-jwt"},
    "smartsender": {"Authorization": "Bearer demo-smartsender-token"},
    "storeden": {"key": "demo-storeden-key", "exchange": "demo-storeden-exchange"},
    "superoffice": {"Authorization": "SoTicket 7T:ZGVtbw=="},
    "hapihub": {"Authorization": "Bearer demo-hapihub-token"},
    "slack": {"Authorization": "Bearer xoxb-17-2024-demo-slack-bot-token"},
    "github": {"Authorization": "Bearer ghp_demoGatewayToken0123456789abcdef0000",
               "Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"},
}

MakeClient = Callable[..., Awaitable[TestClient[Any, Any]]]


@pytest.fixture
def auth() -> dict[str, dict[str, str]]:
    """Demo credential headers by emulator name."""
    return {name: dict(headers) for name, headers in AUTH.items()}


@pytest.fixture
def make_client(aiohttp_client: Any) -> MakeClient:
    """``await make_client(name, **create_app_options)`` → a TestClient for that emulator."""

    async def make(name: str, **options: Any) -> TestClient[Any, Any]:
        return await aiohttp_client(EMULATORS[name].create_app(**options))

    return make
