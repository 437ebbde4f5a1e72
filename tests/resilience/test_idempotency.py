"""Idempotency-Key over real HTTP: one upstream send per key, the answer replayed; 422
for another body, 409 while in flight, 400 for a bad key; scoped per consumer; an
ambiguous failure kept, a failure before any send released."""

from __future__ import annotations

import asyncio

import pytest

from gateway.emulators import FAULTS
from gateway.resilience.idempotency import fingerprint, parse_key
from gateway.errors import InvalidRequest
from tests.conftest import API_KEY, AUTH, recorded, store

SEND = "/v1/hapihub/chats/room-001/messages"


def keyed(key: str, auth=AUTH) -> dict[str, str]:
    return {**auth, "Idempotency-Key": f'"{key}"'}


def posts(emulators, name="hapihub"):
    return [r for r in recorded(emulators, name) if r.method == "POST"]


async def test_same_key_same_body_sends_once_and_replays(gateway, emulators):
    first = await gateway.post(SEND, json={"text": "once"}, headers=keyed("k-1"))
    again = await gateway.post(SEND, json={"text": "once"}, headers=keyed("k-1"))
    assert first.status == again.status == 201
    assert await first.read() == await again.read()
    assert "Idempotent-Replayed" not in first.headers
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["Content-Type"].startswith("application/json")
    assert len(posts(emulators)) == 1


async def test_same_key_other_body_is_422(gateway, emulators):
    assert (await gateway.post(SEND, json={"text": "a"}, headers=keyed("k-2"))).status == 201
    response = await gateway.post(SEND, json={"text": "b"}, headers=keyed("k-2"))
    body = await response.json()
    assert response.status == 422 and body["type"] == "/problems/idempotency-key-reused"
    other_path = "/v1/hapihub/chats/room-002/messages"
    assert (await gateway.post(other_path, json={"text": "a"},
                               headers=keyed("k-2"))).status == 422
    assert len(posts(emulators)) == 1


async def test_same_key_in_flight_is_409(gateway, emulators):
    emulators.apps["hapihub"][FAULTS].add("delay", delay=1.0, path="/chat-messages")
    first = asyncio.create_task(gateway.post(SEND, json={"text": "slow"}, headers=keyed("k-3")))
    while not posts(emulators):
        await asyncio.sleep(0.01)
    response = await gateway.post(SEND, json={"text": "slow"}, headers=keyed("k-3"))
    body = await response.json()
    assert response.status == 409 and body["type"] == "/problems/idempotency-key-in-use"
    assert (await first).status == 201
    assert len(posts(emulators)) == 1


@pytest.mark.parametrize("value", ['""', '"has\\"quote"', "é-not-ascii", "x" * 256, '"tab\tin"'],
                         ids=["empty", "quote", "non-ascii", "too-long", "control"])
async def test_a_bad_key_is_400_naming_the_header(gateway, emulators, value):
    response = await gateway.post(SEND, json={"text": "x"},
                                  headers={**AUTH, "Idempotency-Key": value})
    body = await response.json()
    assert response.status == 400 and body["field"] == "Idempotency-Key", body
    assert posts(emulators) == []


async def test_keys_are_scoped_per_consumer(make_gateway, emulators):
    gateway = await make_gateway(consumers=[
        {"name": "one", "keys": API_KEY, "upstreams": "*"},
        {"name": "two", "keys": "second-key-0123456789", "upstreams": "*"}])
    other = {"Authorization": "Bearer second-key-0123456789"}
    assert (await gateway.post(SEND, json={"text": "s"}, headers=keyed("same"))).status == 201
    response = await gateway.post(SEND, json={"text": "s"}, headers=keyed("same", other))
    assert response.status == 201 and "Idempotent-Replayed" not in response.headers
    assert len(posts(emulators)) == 2


async def test_a_timed_out_send_is_kept_not_sent_again(make_gateway, emulators):
    """The upstream may have stored it: the 504 is replayed, the send is not repeated."""
    gateway = await make_gateway({"GATEWAY_UPSTREAM_TIMEOUT_SECONDS": "0.3"})
    emulators.apps["hapihub"][FAULTS].add("delay", delay=1.0, path="/chat-messages")
    first = await gateway.post(SEND, json={"text": "maybe"}, headers=keyed("k-4"))
    assert first.status == 504
    again = await gateway.post(SEND, json={"text": "maybe"}, headers=keyed("k-4"))
    assert again.status == 504 and again.headers["Idempotent-Replayed"] == "true"
    assert len(posts(emulators)) == 1


@pytest.mark.parametrize("status", [503, 429])
async def test_a_send_the_upstream_refused_is_released(gateway, emulators, status):
    emulators.apps["hapihub"][FAULTS].add("status", status=status, path="/chat-messages")
    first = await gateway.post(SEND, json={"text": "later"}, headers=keyed("k-5"))
    assert first.status == status
    again = await gateway.post(SEND, json={"text": "later"}, headers=keyed("k-5"))
    assert again.status == 201 and "Idempotent-Replayed" not in again.headers
    assert len(posts(emulators)) == 2  # the first was refused, not stored


async def test_an_answered_upstream_error_on_a_send_is_kept(gateway, emulators):
    emulators.apps["hapihub"][FAULTS].add("status", status=500, path="/chat-messages")
    assert (await gateway.post(SEND, json={"text": "e"}, headers=keyed("k-6"))).status == 502
    again = await gateway.post(SEND, json={"text": "e"}, headers=keyed("k-6"))
    assert again.status == 502 and again.headers["Idempotent-Replayed"] == "true"
    assert len(posts(emulators)) == 1


async def test_bad_input_is_released(gateway, emulators):
    assert (await gateway.post(SEND, json={"txt": "typo"}, headers=keyed("k-7"))).status == 400
    assert (await gateway.post(SEND, json={"text": "fixed"}, headers=keyed("k-7"))).status == 201


async def test_a_connection_refused_before_the_send_is_released(make_gateway, emulators):
    """Smartsender's send reads the chat first: if that fails, nothing was sent."""
    gateway = await make_gateway()
    send = "/v1/smartsender/chats/7001/messages"
    emulators.apps["smartsender"][FAULTS].add("status", status=500, path=r"^/v1/chats/7001$")
    assert (await gateway.post(send, json={"text": "t"}, headers=keyed("k-8"))).status == 502
    assert (await gateway.post(send, json={"text": "t"}, headers=keyed("k-8"))).status == 201
    assert len(posts(emulators, "smartsender")) == 1


async def test_the_answer_expires_after_the_ttl(make_gateway, emulators):
    gateway = await make_gateway(resilience={"idempotency": {"ttl_seconds": 1}})
    assert (await gateway.post(SEND, json={"text": "t"}, headers=keyed("k-9"))).status == 201
    await asyncio.sleep(1.2)  # the TTL passes
    response = await gateway.post(SEND, json={"text": "t"}, headers=keyed("k-9"))
    assert response.status == 201 and "Idempotent-Replayed" not in response.headers
    assert len(posts(emulators)) == 2


async def test_patch_takes_a_key_too(gateway, emulators):
    path = "/v1/hapihub/chats/room-001/messages/"
    message = store(emulators, "hapihub").message_ids_newest_first("room-001")[0]
    for _ in range(2):
        response = await gateway.patch(path + message, json={"seen": True}, headers=keyed("p-1"))
        assert response.status in (200, 204)
    assert len([r for r in recorded(emulators, "hapihub") if r.method == "PATCH"]) == 1


def test_key_syntax_and_fingerprint():
    assert parse_key('"abc-123"') == parse_key("abc-123") == "abc-123"
    with pytest.raises(InvalidRequest):
        parse_key('"a\\b"')
    assert fingerprint("POST", "/p", b'{"a":1,"b":2}') == fingerprint("POST", "/p", b'{"b": 2, "a": 1}')
    assert fingerprint("POST", "/p", b'{"a":1}') != fingerprint("POST", "/q", b'{"a":1}')


async def test_a_send_refused_at_connect_is_released(make_gateway, emulators):
    """Connection refused: not a byte reached the upstream, so the key stays free."""
    import socket

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    gateway = await make_gateway({"HAPIHUB_BASE_URL": f"http://127.0.0.1:{closed}"})
    for _ in range(2):
        response = await gateway.post(SEND, json={"text": "t"}, headers=keyed("k-10"))
        assert response.status == 503 and "Idempotent-Replayed" not in response.headers
