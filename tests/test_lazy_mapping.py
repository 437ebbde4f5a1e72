"""A list operation maps only the upstream records it reads or serves, and of a record it
only sorts by, only the sort key.

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

    gateway = await _gateway(aiohttp_client, tmp_path, "lazy", MAPPING, messages)

    served = await gateway.get("/v1/lazy/chats/7/messages?limit=3", headers=AUTH)
    body = await served.json()
    assert served.status == 200, body
    assert [m["id"] for m in body["data"]] == ["1", "2", "3"]
    assert body["data"][0]["sent_at"] == "1970-01-01T00:00:01Z"

    failed = await gateway.get("/v1/lazy/chats/7/messages?limit=4", headers=AUTH)
    assert failed.status == 502
    assert "has no id" in (await failed.json())["detail"]


SORTED = MAPPING.replace("{type: next_url, next: next, page_size: 5}",
                         "{type: none, order: {by: [{field: id, as: number}], direction: desc}}")
UNSORTED = [{"id": "1", "text": "oldest", "at": "not a time"}, {"id": "3", "text": "c", "at": 3},
            {"id": "2", "text": "b", "at": 2}, {"id": "4", "text": "d", "at": 4}]


async def test_sorting_maps_only_the_sort_key_of_records_it_does_not_serve(aiohttp_client,
                                                                           tmp_path):
    records = list(UNSORTED)

    async def messages(request: web.Request) -> web.Response:
        return web.json_response({"messages": records})

    gateway = await _gateway(aiohttp_client, tmp_path, "sorted", SORTED, messages)

    served = await gateway.get("/v1/sorted/chats/7/messages?limit=3", headers=AUTH)
    body = await served.json()
    assert served.status == 200, body  # the oldest one's bad date is never read
    assert [m["id"] for m in body["data"]] == ["4", "3", "2"]
    assert body["data"][0] == {"id": "4", "chat_id": None, "text": "d", "media": [],
                               "direction": None, "sender": None,
                               "sent_at": "1970-01-01T00:00:04Z", "read": None, "type": None}

    failed = await gateway.get("/v1/sorted/chats/7/messages?limit=4", headers=AUTH)
    assert failed.status == 502  # served, it fails as it always did
    assert "sent_at" in (await failed.json())["detail"]

    records.append({"text": "no id", "at": 5})  # a sort key it cannot have: the page fails
    no_id = await gateway.get("/v1/sorted/chats/7/messages?limit=3", headers=AUTH)
    assert no_id.status == 502
    assert "has no id" in (await no_id.json())["detail"]


async def _gateway(aiohttp_client, tmp_path, name, mapping, messages):
    """The gateway in front of a test upstream answering GET /api/chats/7/messages."""
    app = web.Application()
    app.router.add_get("/api/chats/7/messages", messages)
    upstream = await aiohttp_client(app)
    (tmp_path / f"{name}.yaml").write_text(mapping)
    (tmp_path / "routes.yaml").write_text(
        f"cursor: {{secrets: ['{SECRET}']}}\n"
        f"consumers: [{{name: t, keys: ['{API_KEY}']}}]\n"
        f"upstreams: {{{name}: {{base_url: '{str(upstream.make_url('')).rstrip('/')}/api', "
        f"mapping: {name}.yaml}}}}\nroutes: [{{name: {name}, upstream: {name}}}]\n")
    return await aiohttp_client(create_app(tmp_path / "routes.yaml", {},
                                           registry=CollectorRegistry()))
