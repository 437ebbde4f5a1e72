"""XML records left unread until used (gateway/mapping/lazyxml.py) change nothing.

Load time decides where the records of a list operation may stay unread; the gateway
with that on serves the same pages, order, cursors and raw records as with it off
(the same mapping with an `items` that is not a plain path, so read eagerly).
"""

from __future__ import annotations

import gc
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from gateway.config.loader import load_config
from gateway.mapping.codecs import LazyElement
from gateway.server import create_app

from .conftest import AUTH, Clock, ROUTES, edit, store

MESSAGES = "/v1/superoffice/chats/{chat}/messages"


def _operations(path: Any, env: dict[str, str]) -> dict[str, Any]:
    return load_config(path, env).routes["superoffice"].upstream.operations


def test_plain_items_path_to_a_declared_list_reads_records_when_used(gateway_env):
    operations = _operations(ROUTES, gateway_env)
    lazy = operations["list_messages"].lazy_items
    assert lazy is not None and lazy.paths == {"ChatMessage": None}
    assert lazy.field_keys["id"] == {"ChatMessageId"}
    assert lazy.field_keys["type"] == {"Type"}
    assert lazy.field_keys["sender"] == {"Author"}
    assert operations["list_chats"].lazy_items is None  # `|| value`: not a list
    assert operations["get_chat"].lazy_items is None  # one record: read as always
    json_upstream = load_config(ROUTES, gateway_env).routes["storeden"].upstream
    assert all(op.lazy_items is None for op in json_upstream.operations.values())


@pytest.mark.parametrize("old,new", [
    ('items: "ChatMessage || @"', 'items: "ChatMessage[] || @"'),  # a projection
    ('items: "ChatMessage || @"', 'items: "ChatMessage || Messages"'),  # not a list
    ("detail: ErrorMessage", "detail: ChatMessage"),  # the detail would show records
    ("detail: ErrorMessage", "detail: \"@\""),
    ("failure: \"@ == 'false' || @ == `false`\"", "failure: \"ChatMessage[0].Type == 'x'\""),
    ("failure: \"@ == 'false' || @ == `false`\"", "failure: \"@ == `{\\\"a\\\": 1}`\""),
], ids=["projection", "other-path", "detail-list", "detail-whole", "failure-record",
        "failure-object"])
def test_anything_that_could_see_a_record_keeps_the_answer_read_eagerly(
        config_dir, gateway_env, old, new):
    edit(config_dir / "mappings" / "superoffice.yaml", old, new)
    assert _operations(config_dir / "routes.yaml", gateway_env)["list_messages"].lazy_items is None


def test_a_field_whose_reads_cannot_be_told_reads_the_record_whole(config_dir, gateway_env):
    edit(config_dir / "mappings" / "superoffice.yaml", "id: ChatMessageId",
         "id: \"ChatMessageId || keys(@)[0]\"")
    lazy = _operations(config_dir / "routes.yaml", gateway_env)["list_messages"].lazy_items
    assert lazy is not None and lazy.field_keys["id"] is None
    assert lazy.field_keys["sent_at"] == {"WhenPosted"}


async def _walk(client: Any, chat: str, **params: str) -> list[dict[str, Any]]:
    """Every page of the chat's messages, cursors followed (their texts left out: they
    are signed under each config's digest)."""
    pages, cursor = [], None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = await client.get(MESSAGES.format(chat=chat), params=query, headers=AUTH)
        body = await response.json()
        assert response.status == 200, body
        cursor = body.pop("next_cursor")
        pages.append({**body, "more": cursor is not None})
        if cursor is None:
            return pages


@pytest.mark.parametrize("params", [{"limit": "20"}, {"limit": "7", "include": "raw"},
                                    {"limit": "100"}, {"limit": "3", "after": "AFTER"}],
                         ids=["limit-20", "raw", "all", "after"])
async def test_pages_are_the_same_with_records_read_when_used_or_at_once(
        aiohttp_client, emulators, gateway_env, config_dir, params):
    edit(config_dir / "mappings" / "superoffice.yaml", 'items: "ChatMessage || @"',
         'items: "ChatMessage[] || @"')
    lazy = await aiohttp_client(create_app(ROUTES, gateway_env, registry=CollectorRegistry(),
                                           clock=Clock()))
    eager = await aiohttp_client(create_app(config_dir / "routes.yaml", gateway_env,
                                            registry=CollectorRegistry(), clock=Clock()))
    store(emulators, "superoffice").seed_messages("901", 70)
    ids = store(emulators, "superoffice").message_ids_newest_first("901")
    if params.get("after") == "AFTER":
        params = {**params, "after": ids[12]}
    served = await _walk(lazy, "901", **params)
    assert served == await _walk(eager, "901", **params)
    messages = [m for page in served for m in page["data"]]
    assert [m["id"] for m in messages] == ids[:12 if "after" in params else len(ids)]
    assert all(("raw" in m) == ("include" in params) for m in messages)
    if "include" in params:
        assert messages[0]["raw"]["ChatMessageId"] == ids[0]
    gc.collect()  # no record left unread outlives its request (nor the tree it holds)
    assert not any(isinstance(o, LazyElement) for o in gc.get_objects())
