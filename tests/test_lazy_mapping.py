"""A list operation maps only the upstream records it reads or serves.

A small test upstream (an aiohttp app on loopback, not a vendor) answers one page whose
fourth record cannot be mapped (it has no id). A canonical page that ends before it
never maps it; one that serves it fails as it always did (502, the record has no id).
"""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CollectorRegistry

from gateway.server import create_app
from tests.conftest import API_KEY, AUTH, SECRET

MAPPING = """
auth: {type: none}
operations:
  list_messages:
    request: {method: GET, path: "/chats/{chat_id}/messages"}
    response:
      items: messages
      fields: {id: id, text: text, sent_at: {from: at, as: epoch_s}}
    pagination: {type: next_url, next: next, page_size: 5}
"""
PAGE = {"messages": [{"id": "1", "text": "a", "at": 1}, {"id": "2", "text": "b", "at": 2},
                     {"id": "3", "text": "c", "at": 3}, {"text": "no id", "at": 4},
                     {"id": "5", "text": "e", "at": "not a time"}],
        "next": None}


async def test_records_a_page_does_not_serve_are_not_mapped(aiohttp_client, tmp_path):
    async def messages(request: web.Request) -> web.Response:
        return web.json_response(PAGE)

    app = web.Application()
    app.router.add_get("/api/chats/7/messages", messages)
    upstream = await aiohttp_client(app)
    (tmp_path / "lazy.yaml").write_text(MAPPING)
    (tmp_path / "routes.yaml").write_text(
        f"cursor: {{secrets: ['{SECRET}']}}\n"
        f"consumers: [{{name: t, keys: ['{API_KEY}']}}]\n"
        f"upstreams: {{lazy: {{base_url: '{str(upstream.make_url('')).rstrip('/')}/api', "
        "mapping: lazy.yaml}}\nroutes: [{name: lazy, upstream: lazy}]\n")
    gateway = await aiohttp_client(create_app(tmp_path / "routes.yaml", {},
                                              registry=CollectorRegistry()))

    served = await gateway.get("/v1/lazy/chats/7/messages?limit=3", headers=AUTH)
    body = await served.json()
    assert served.status == 200, body
    assert [m["id"] for m in body["data"]] == ["1", "2", "3"]
    assert body["data"][0]["sent_at"] == "1970-01-01T00:00:01Z"

    failed = await gateway.get("/v1/lazy/chats/7/messages?limit=4", headers=AUTH)
    assert failed.status == 502
    assert "has no id" in (await failed.json())["detail"]
