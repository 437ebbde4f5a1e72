"""A Python client generated from the served `/openapi.json` by openapi-python-client
(a real generator, as API users would run it) walks a chat's messages page by page and
sends a message, over HTTP, against the gateway in front of the emulators.

The generator runs with `--fail-on-warning`, so a document it cannot fully turn into
code fails here; its post-hooks are off so the result does not depend on what else is
installed.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.state import STATE, openapi_version
from tests.conftest import API_KEY, AUTH, recorded

PACKAGE = "chat_gateway_client"


@pytest.fixture
def generated(gateway, tmp_path):
    async def generate():
        response = await gateway.get("/openapi.json")
        assert response.status == 200
        document = tmp_path / "openapi.json"
        document.write_text(json.dumps(await response.json()))
        config = tmp_path / "generator.yaml"
        config.write_text("post_hooks: []\n")
        generator = Path(sys.executable).parent / "openapi-python-client"
        result = subprocess.run(
            [str(generator), "generate", "--path", str(document), "--meta", "none",
             "--output-path", str(tmp_path / PACKAGE), "--config", str(config),
             "--fail-on-warning"], capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stdout + result.stderr
        print("\n" + result.stdout.strip())
        sys.path.insert(0, str(tmp_path))
        importlib.invalidate_caches()
        return {name: importlib.import_module(f"{PACKAGE}.{name}") for name in (
            "client", "models", "api.messages.list_messages", "api.messages.send_message",
            "api.upstreams.list_upstreams")}

    yield generate
    if str(tmp_path) in sys.path:
        sys.path.remove(str(tmp_path))
    for name in [n for n in sys.modules if n == PACKAGE or n.startswith(PACKAGE + ".")]:
        del sys.modules[name]


async def test_a_generated_client_walks_a_chat_and_sends_a_message(gateway, generated,
                                                                   emulators):
    state = gateway.app[STATE]
    document = state.openapi
    assert document["info"]["version"] == openapi_version(state.config.sha256)
    mods = await generated()
    models = mods["models"]
    client = mods["client"].AuthenticatedClient(base_url=str(gateway.make_url("")),
                                                token=API_KEY)
    async with client:
        upstreams = await mods["api.upstreams.list_upstreams"].asyncio(client=client)
        assert "storeden" in [u.name for u in upstreams.data]

        list_messages = mods["api.messages.list_messages"]
        seen, cursor, pages = [], None, 0
        while True:
            page = await list_messages.asyncio_detailed(
                client=client, upstream=models.Upstream.STOREDEN, chat_id="49077", limit=2,
                **({"cursor": cursor} if cursor else {}))
            assert page.status_code == 200, page.content
            assert isinstance(page.parsed, models.MessageList)
            seen += [(m.id, m.direction) for m in page.parsed.data]
            pages += 1
            cursor = page.parsed.next_cursor
            if not cursor:
                break
        expected = await _walk_with_plain_http(gateway)
        assert [i for i, _ in seen] == [m["id"] for m in expected]
        assert [d.value if d else None for _, d in seen] == [m["direction"] for m in expected]
        assert pages == -(-len(expected) // 2) and pages > 1

        sent = await mods["api.messages.send_message"].asyncio_detailed(
            client=client, upstream=models.Upstream.STOREDEN, chat_id="49077",
            body=models.SendMessage(text="sent by a generated client"))
        assert sent.status_code == 201, sent.content
        assert sent.parsed.text == "sent by a generated client"
        assert sent.parsed.direction == models.Direction.OUTBOUND
        posted = [r for r in recorded(emulators, "storeden") if r.method == "POST"]
        assert [r.body for r in posted] == [b"with_id=49077&message=sent+by+a+generated+client"]

        refused = await list_messages.asyncio_detailed(
            client=client, upstream=models.Upstream.STOREDEN, chat_id="49077", limit=2,
            cursor="forged")
        assert refused.status_code == 400 and isinstance(refused.parsed, models.Problem)
        assert refused.parsed.type_ == "/problems/invalid-cursor"
    print(f"walked {len(seen)} messages in {pages} pages, sent 1, with the generated client")


async def _walk_with_plain_http(gateway) -> list[dict]:
    messages, url = [], "/v1/storeden/chats/49077/messages?limit=2"
    while url:
        page = await (await gateway.get(url, headers=AUTH)).json()
        messages += page["data"]
        cursor = page["next_cursor"]
        url = f"/v1/storeden/chats/49077/messages?limit=2&cursor={cursor}" if cursor else None
    return messages
