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
        text = block.sub(lambda _: rendered, text, count=1) if block.search(text) \
            else rendered + text
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
