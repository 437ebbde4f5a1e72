"""Shared emulator machinery: startup, recording, fault injection, the store interface."""

from __future__ import annotations

import json
import time
from typing import Any

import aiohttp
import pytest
from lxml import etree

from gateway.emulators import EMULATORS, FAULTS, RECORDED, STORE, start_emulators

LIST_PATH = {
    "spurtcommerce": "/chat-vendor/admin-list",
    "smartsender": "/chats",
    "storeden": "/messages/chat_list.json",
    "superoffice": "/ChatSession",
    "hapihub": "/chat-rooms",
    "slack": "/conversations.list",
    "github": "/repos/acme/support/issues",
}
ENV_KEYS = {
    "SPURTCOMMERCE_BASE_URL", "SPURTCOMMERCE_TOKEN", "SPURTCOMMERCE_TIMEZONE",
    "SMARTSENDER_BASE_URL", "SMARTSENDER_TOKEN", "SMARTSENDER_TIMEZONE",
    "STOREDEN_BASE_URL", "STOREDEN_KEY", "STOREDEN_EXCHANGE",
    "SUPEROFFICE_BASE_URL", "SUPEROFFICE_AUTH",
    "HAPIHUB_BASE_URL", "HAPIHUB_TOKEN", "HAPIHUB_ACCOUNT_ID",
    "SLACK_BASE_URL", "SLACK_TOKEN", "SLACK_BOT_USER_ID",
    "GITHUB_BASE_URL", "GITHUB_TOKEN", "GITHUB_OWNER", "GITHUB_REPO", "GITHUB_LOGIN",
}  # fmt: skip


async def test_start_emulators_serves_all(auth: dict[str, dict[str, str]]) -> None:
    async with await start_emulators() as running:
        env = running.env()
        assert set(env) == ENV_KEYS
        assert set(running.apps) == set(EMULATORS)
        async with aiohttp.ClientSession() as session:
            for name, base_url in running.base_urls.items():
                assert base_url.startswith("http://127.0.0.1:") and base_url.endswith(EMULATORS[name].base_path)
                assert env[f"{name.upper()}_BASE_URL"] == base_url
                async with session.get(base_url + LIST_PATH[name], headers=auth[name]) as response:
                    assert response.status == 200, name
                assert running.apps[name][RECORDED][-1].path == EMULATORS[name].base_path + LIST_PATH[name]


async def test_start_emulators_subset_and_unknown_name() -> None:
    running = await start_emulators(names=["storeden"])
    try:
        assert running.env() == EMULATORS["storeden"].env(running.base_urls["storeden"])
        assert running.env()["STOREDEN_KEY"] == "demo-storeden-key"
    finally:
        await running.close()
    with pytest.raises(ValueError, match="nope"):
        await start_emulators(names=["nope"])


async def test_recorded_request_is_captured_before_auth(make_client: Any) -> None:
    client = await make_client("storeden")
    response = await client.post(
        "/v1.1/messages/chat.json?b=2&a=1&b=3", data={"with_id": "49077", "message": "Ciao! 👋"}, headers={"key": "wrong"}
    )
    assert response.status == 401
    [recorded] = client.app[RECORDED]
    assert recorded.method == "POST"
    assert recorded.path == "/v1.1/messages/chat.json"
    assert recorded.query == [("b", "2"), ("a", "1"), ("b", "3")]
    assert recorded.headers["KEY"] == "wrong"
    assert recorded.headers["content-type"] == "application/x-www-form-urlencoded"
    assert recorded.body == "with_id=49077&message=Ciao%21+%F0%9F%91%8B".encode()


async def test_delay_fault_then_normal_answer(make_client: Any, auth: dict[str, dict[str, str]]) -> None:
    client = await make_client("hapihub")
    client.app[FAULTS].add("delay", delay=0.3)
    started = time.monotonic()
    response = await client.get("/chat-rooms", headers=auth["hapihub"])
    assert response.status == 200 and time.monotonic() - started >= 0.3
    started = time.monotonic()
    assert (await client.get("/chat-rooms", headers=auth["hapihub"])).status == 200
    assert time.monotonic() - started < 0.3


async def test_status_fault_fires_before_auth_and_counts_down(make_client: Any) -> None:
    client = await make_client("smartsender")
    client.app[FAULTS].add("status", status=503, body=b'{"error": "busy"}', times=2)
    for _ in range(2):
        response = await client.get("/v1/chats")
        assert response.status == 503 and await response.json() == {"error": "busy"}
    assert (await client.get("/v1/chats")).status == 401
    assert client.app[FAULTS].pending == []
    client.app[FAULTS].add("status", status=429, body="Zu viele 🐢".encode(), content_type="text/plain; charset=utf-8")
    response = await client.get("/v1/chats")
    assert response.status == 429 and response.charset == "utf-8" and await response.text() == "Zu viele 🐢"
    client.app[FAULTS].add("status", status=429, headers={"Retry-After": "30"})
    response = await client.get("/v1/chats")
    assert response.status == 429 and response.headers["Retry-After"] == "30"


async def test_fault_path_regex_and_forever_and_clear(make_client: Any, auth: dict[str, dict[str, str]]) -> None:
    client = await make_client("hapihub")
    client.app[FAULTS].add("status", path=r"/chat-rooms/room-00\d$", times=-1, status=502)
    for _ in range(3):
        assert (await client.get("/chat-rooms/room-001", headers=auth["hapihub"])).status == 502
    assert (await client.get("/chat-rooms", headers=auth["hapihub"])).status == 200
    client.app[FAULTS].clear()
    assert (await client.get("/chat-rooms/room-001", headers=auth["hapihub"])).status == 200


@pytest.mark.parametrize(
    ("name", "accept", "path"),
    [
        ("hapihub", "application/json", "/chat-rooms"),
        ("spurtcommerce", "application/xml", "/backend/api/chat-vendor"),
        ("superoffice", "text/xml", "/api/v1/ChatSession"),
    ],
    ids=["json", "object-xml", "datacontract-xml"],
)
async def test_malformed_fault_truncates_the_requested_format(
    make_client: Any, auth: dict[str, dict[str, str]], name: str, accept: str, path: str
) -> None:
    client = await make_client(name)
    client.app[FAULTS].add("malformed")
    response = await client.get(path, headers={**auth[name], "Accept": accept})
    assert response.status == 200
    body = await response.read()
    if "xml" in accept:
        assert "xml" in response.content_type
        with pytest.raises(etree.XMLSyntaxError):
            etree.fromstring(body)
    else:
        assert response.content_type == "application/json"
        with pytest.raises(ValueError):
            json.loads(body)


async def test_drop_fault_disconnects(make_client: Any, auth: dict[str, dict[str, str]]) -> None:
    client = await make_client("storeden")
    # times=-1: aiohttp's client silently retries an idempotent request once when a
    # reused keep-alive connection is dropped, so a single drop can go unseen.
    client.app[FAULTS].add("drop", times=-1)
    for _ in range(2):
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await client.get("/v1.1/messages/chat_list.json", headers=auth["storeden"])
    client.app[FAULTS].clear()
    assert (await client.get("/v1.1/messages/chat_list.json", headers=auth["storeden"])).status == 200
    assert [recorded.path for recorded in client.app[RECORDED]][-1] == "/v1.1/messages/chat_list.json"


def test_fault_injector_rejects_bad_arguments() -> None:
    faults = EMULATORS["hapihub"].create_app()[FAULTS]
    with pytest.raises(ValueError, match="unknown fault kind"):
        faults.add("explode")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="times"):
        faults.add("drop", times=0)


@pytest.mark.parametrize("name", sorted(EMULATORS))
def test_store_interface(name: str) -> None:
    store = EMULATORS[name].create_app()[STORE]
    chat_id = store.chat_ids()[0]
    store.seed_messages(chat_id, 7)
    ids = store.message_ids_newest_first(chat_id)
    assert len(ids) == len(set(ids)) == 7
    new_id = store.add_message(chat_id, "Nová zpráva 🆕", inbound=False)
    assert store.message_ids_newest_first(chat_id) == [new_id, *ids]
    store.seed_chats(4)
    assert len(store.chat_ids()) == 4
    assert all(store.message_ids_newest_first(chat) for chat in store.chat_ids())


@pytest.mark.parametrize("name", sorted(EMULATORS))
def test_seeding_is_deterministic_and_apps_are_independent(name: str) -> None:
    first, second = (EMULATORS[name].create_app()[STORE] for _ in range(2))
    assert first.chat_ids() == second.chat_ids()
    big = max(first.chat_ids(), key=lambda chat: len(first.message_ids_newest_first(chat)))
    assert len(first.message_ids_newest_first(big)) >= 50
    assert first.message_ids_newest_first(big) == second.message_ids_newest_first(big)
    first.add_message(big, "only in the first")
    assert len(first.message_ids_newest_first(big)) == len(second.message_ids_newest_first(big)) + 1
