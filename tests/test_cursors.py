"""Signed cursors: tampered, foreign, mismatched, expired or unknown-key cursors are a 400
`invalid-cursor` that never reaches an upstream; rotation and replicas keep cursors
working; every cursor is URL-safe."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import string

import pytest
from prometheus_client import CollectorRegistry

from gateway.cursors import Binding, CursorCodec, _b64, key_id
from gateway.errors import InvalidCursor
from gateway.server import create_app
from tests.conftest import AUTH, ROUTES, SECRET, recorded, store

URL_SAFE = re.compile(r"^[A-Za-z0-9_.-]+$")
ALPHABET = string.ascii_letters + string.digits + "-_"


async def next_cursor(client, path: str, **params: str) -> str:
    response = await client.get(path, params={"limit": "5", **params}, headers=AUTH)
    body = await response.json()
    assert response.status == 200, body
    assert body["next_cursor"] is not None
    return body["next_cursor"]


REASONS = ("malformed", "unknown_key", "bad_signature", "expired", "mismatch")


def rejections(registry: CollectorRegistry) -> dict[str, float]:
    return {reason: registry.get_sample_value("chat_gateway_cursor_rejections_total",
                                              {"reason": reason}) or 0.0 for reason in REASONS}


async def assert_invalid_cursor(client, emulators, path: str, cursor: str, *,
                                registry: CollectorRegistry | None = None,
                                reason: str | None = None, **params: str) -> dict:
    """400 invalid-cursor, problem+json naming the field, no upstream saw a request, and
    (given the app's registry) one rejection counted, for `reason` when given."""
    before = {name: len(recorded(emulators, name)) for name in emulators.apps}
    counted = rejections(registry) if registry is not None else {}
    response = await client.get(path, params={"cursor": cursor, **params}, headers=AUTH)
    assert response.status == 400, await response.text()
    assert response.content_type == "application/problem+json"
    body = await response.json()
    assert body["type"] == "/problems/invalid-cursor" and body["field"] == "cursor"
    assert {name: len(recorded(emulators, name)) for name in emulators.apps} == before
    if registry is not None:
        grown = {r: n - counted[r] for r, n in rejections(registry).items() if n != counted[r]}
        assert list(grown.values()) == [1.0], grown
        assert reason is None or list(grown) == [reason], grown
    return body


async def rejected(gateway, emulators, registry, cursor: str, reason: str,
                   **params: str) -> dict:
    """`assert_invalid_cursor` on the Smart Sender chat 7001's messages, for `reason`."""
    return await assert_invalid_cursor(gateway, emulators, MESSAGES, cursor, registry=registry,
                                       reason=reason, **params)


def signed(payload: bytes, secret: bytes) -> str:
    """A cursor as the codec writes one, around any payload, signed with `secret`."""
    return f"{_b64(payload)}.{_b64(hmac.new(secret, payload, hashlib.sha256).digest())}"


def change(cursor: str, index: int) -> str:
    """`cursor` with the character at `index` replaced by another base64url character."""
    old = cursor[index]
    return cursor[:index] + ALPHABET[(ALPHABET.index(old) + 1) % len(ALPHABET)] + cursor[index + 1:]


MESSAGES = "/v1/smartsender/chats/7001/messages"


@pytest.mark.parametrize("index,reason", [
    (lambda c: 0, "malformed"),  # the JSON no longer parses
    (lambda c: c.index(".") // 2, None),
    (lambda c: c.index(".") - 1, None),  # may touch only base64's unused low bits
    (lambda c: c.index(".") + 1, "bad_signature"),
    (lambda c: len(c) - 1, None),
], ids=["payload-first", "payload-middle", "payload-last", "signature-first", "signature-last"])
async def test_a_changed_character_is_rejected(gateway, emulators, registry, index, reason):
    cursor = await next_cursor(gateway, MESSAGES)
    tampered = change(cursor, index(cursor))
    assert tampered != cursor
    await assert_invalid_cursor(gateway, emulators, MESSAGES, tampered, registry=registry,
                                reason=reason)


@pytest.mark.parametrize("cursor", [
    "garbage", "a.b", "...", "%%%", "e30.e30", "e30", "eyJrIjoxfQ.AAAA",
    "x" * 4000, "Zm9v.YmFy.YmF6", "eyJrIjoiIn0=.AA==", "🙂.🙂",
], ids=["word", "two-parts", "dots", "percent", "empty-json", "no-signature",
        "wrong-shape", "long", "three-parts", "padded", "unicode"])
async def test_garbage_is_rejected(gateway, emulators, registry, cursor):
    await assert_invalid_cursor(gateway, emulators, MESSAGES, cursor, registry=registry)


@pytest.mark.parametrize("cursor", ["", "x" * 5000], ids=["empty", "over-4096"])
async def test_an_empty_or_oversized_cursor_is_an_invalid_cursor(gateway, emulators, cursor):
    await assert_invalid_cursor(gateway, emulators, MESSAGES, cursor)


async def test_a_cursor_from_another_upstream(gateway, emulators, registry):
    cursor = await next_cursor(gateway, "/v1/storeden/chats/49077/messages")
    await rejected(gateway, emulators, registry, cursor, "mismatch")


async def test_a_cursor_from_another_chat(gateway, emulators, registry):
    store(emulators, "smartsender").seed_messages("7005", 30)
    cursor = await next_cursor(gateway, "/v1/smartsender/chats/7005/messages")
    await rejected(gateway, emulators, registry, cursor, "mismatch")


async def test_a_cursor_from_another_operation(gateway, emulators, registry):
    store(emulators, "smartsender").seed_chats(30)
    cursor = await next_cursor(gateway, "/v1/smartsender/chats")
    await assert_invalid_cursor(gateway, emulators, "/v1/smartsender/chats/7001/messages",
                                cursor, registry=registry, reason="mismatch")


@pytest.mark.parametrize("issued,used", [
    ({"q": "Контакт"}, {}),
    ({"q": "Контакт"}, {"q": "Контакт 1"}),
    ({}, {"q": "Контакт"}),
    ({"state": "open"}, {"state": "closed"}),
    ({"q": "Контакт"}, {"q": "Контакт", "unread": "true"}),
], ids=["filter-dropped", "filter-changed", "filter-added", "state-changed", "filter-extra"])
async def test_a_cursor_from_other_filters(gateway, emulators, registry, issued, used):
    store(emulators, "smartsender").seed_chats(30)
    cursor = await next_cursor(gateway, "/v1/smartsender/chats", **issued)
    await assert_invalid_cursor(gateway, emulators, "/v1/smartsender/chats", cursor,
                                registry=registry, reason="mismatch", **used)


async def test_a_cursor_is_bound_to_after(gateway, emulators, registry):
    newest = store(emulators, "smartsender").message_ids_newest_first("7001")
    cursor = await next_cursor(gateway, MESSAGES, after=newest[40])
    await rejected(gateway, emulators, registry, cursor, "mismatch")
    await rejected(gateway, emulators, registry, cursor, "mismatch", after=newest[41])


async def test_limit_and_include_are_not_bound(gateway):
    cursor = await next_cursor(gateway, MESSAGES)
    response = await gateway.get(MESSAGES, params={"cursor": cursor, "limit": "7",
                                                   "include": "raw"}, headers=AUTH)
    assert response.status == 200 and len((await response.json())["data"]) == 7


async def test_a_cursor_past_its_expiry(gateway, emulators, registry, clock):
    cursor = await next_cursor(gateway, MESSAGES)
    clock.now += 86400  # ttl_seconds: still good at the last second
    assert (await gateway.get(MESSAGES, params={"cursor": cursor}, headers=AUTH)).status == 200
    clock.now += 1
    body = await rejected(gateway, emulators, registry, cursor, "expired")
    assert "expired" in body["detail"]


async def test_a_cursor_signed_with_an_unknown_secret(gateway, emulators, registry, clock):
    foreign = CursorCodec((b"some-other-secret-0123456789",), 86400, clock)
    cursor = foreign.encode(Binding("smartsender", "list_messages", "7001", ()), {"o": 5})
    await rejected(gateway, emulators, registry, cursor, "unknown_key")


async def test_a_cursor_naming_the_gateways_key_but_signed_with_another_secret(
        gateway, emulators, registry):
    binding = Binding("smartsender", "list_messages", "7001", (), "PageNumberPaging")
    payload = json.dumps({"k": key_id(SECRET.encode()), "e": 2_000_000_000,
                          "b": binding.digest(), "p": {"o": 5}}).encode()
    cursor = signed(payload, b"some-other-secret-0123456789")
    await assert_invalid_cursor(gateway, emulators, MESSAGES, cursor, registry=registry,
                                reason="bad_signature")
    # the same payload signed with the gateway's secret is accepted: only the key differs
    response = await gateway.get(MESSAGES, params={"cursor": signed(payload, SECRET.encode())},
                                 headers=AUTH)
    assert response.status == 200


# --- rotation, replicas, form -------------------------------------------------------


def app_with(gateway_env, clock, secret: str, previous: str | None = None):
    env = {**gateway_env, "GATEWAY_CURSOR_SECRET": secret}
    if previous is not None:
        env["GATEWAY_CURSOR_SECRET_PREVIOUS"] = previous
    return create_app(ROUTES, env, registry=CollectorRegistry(), clock=clock)


async def test_secret_rotation(aiohttp_client, gateway_env, emulators, clock):
    old, new = "old-cursor-secret-0123456789", "new-cursor-secret-0123456789"
    before = await aiohttp_client(app_with(gateway_env, clock, old))
    during = await aiohttp_client(app_with(gateway_env, clock, new, previous=old))
    after = await aiohttp_client(app_with(gateway_env, clock, new))
    expected = store(emulators, "smartsender").message_ids_newest_first("7001")

    old_cursor = await next_cursor(before, MESSAGES)
    response = await during.get(MESSAGES, params={"cursor": old_cursor, "limit": "5"}, headers=AUTH)
    body = await response.json()
    assert response.status == 200 and [m["id"] for m in body["data"]] == expected[5:10]
    new_cursor = body["next_cursor"]  # signed with the new secret now
    assert (await after.get(MESSAGES, params={"cursor": new_cursor}, headers=AUTH)).status == 200
    await assert_invalid_cursor(after, emulators, MESSAGES, old_cursor)
    await assert_invalid_cursor(before, emulators, MESSAGES, new_cursor)


async def test_a_replica_accepts_the_other_replicas_cursors(aiohttp_client, gateway_env,
                                                           emulators, clock):
    replicas = [await aiohttp_client(app_with(gateway_env, clock, SECRET)) for _ in range(2)]
    expected = store(emulators, "storeden").message_ids_newest_first("49077")
    ids, cursor, turn = [], None, 0
    while True:
        params = {"limit": "17", **({"cursor": cursor} if cursor else {})}
        response = await replicas[turn % 2].get("/v1/storeden/chats/49077/messages",
                                                params=params, headers=AUTH)
        body = await response.json()
        assert response.status == 200, body
        ids += [m["id"] for m in body["data"]]
        cursor, turn = body["next_cursor"], turn + 1
        if cursor is None:
            break
    assert ids == expected and turn == 6


@pytest.mark.parametrize("path", [
    "/v1/smartsender/chats/7001/messages", "/v1/storeden/chats/49077/messages",
    "/v1/superoffice/chats/341/messages", "/v1/hapihub/chats/room-001/messages",
    "/v1/spurtcommerce/chats/1/messages", "/v1/smartsender/chats", "/v1/superoffice/chats",
], ids=["smartsender", "storeden", "superoffice", "hapihub", "spurtcommerce",
        "smartsender-chats", "superoffice-chats"])
async def test_cursors_are_url_safe(gateway, emulators, path):
    if path.endswith("/chats"):
        store(emulators, path.split("/")[2]).seed_chats(30)
    cursor = await next_cursor(gateway, path)
    assert URL_SAFE.match(cursor), cursor
    assert "=" not in cursor


# --- the codec itself ----------------------------------------------------------------


@pytest.fixture
def codec(clock):
    return CursorCodec((b"a-secret-of-sixteen-chars",), 60, clock)


BINDING = Binding("smartsender", "list_messages", "7001", (("after", "100001"),))


def test_every_single_character_change_is_rejected(codec):
    """Including the last character of each half, whose low bits base64 leaves unused."""
    position = {"o": 42, "l": "ідентифікатор 🙂", "u": "http://x/?a=1&b=2"}
    cursor = codec.encode(BINDING, position)
    assert URL_SAFE.match(cursor)
    assert codec.decode(cursor, BINDING) == position
    for index, char in enumerate(cursor):
        for other in ALPHABET + ".=+/ ":
            if other != char:
                with pytest.raises(InvalidCursor):
                    codec.decode(cursor[:index] + other + cursor[index + 1:], BINDING)


@pytest.mark.parametrize("payload,reason", [
    (b"[1, 2]", "malformed"),
    (b'"text"', "malformed"),
    (b'{"k": "KID", "e": 99999999999, "b": "B"}', "malformed"),
    (b'{"k": "KID", "e": 99999999999, "b": "B", "p": [1]}', "malformed"),
    (b'{"k": "KID", "e": "soon", "b": "B", "p": {}}', "expired"),
    (b'{"k": 7, "e": 99999999999, "b": "B", "p": {}}', "unknown_key"),
    (b'\xff\xfe', "malformed"),
], ids=["list", "string", "no-position", "position-not-object", "expiry-not-int",
        "key-not-string", "not-utf8"])
def test_signed_but_malformed_payloads_are_rejected(codec, payload, reason):
    kid = key_id(b"a-secret-of-sixteen-chars")
    payload = payload.replace(b"KID", kid.encode())
    payload = payload.replace(b'"B"', f'"{BINDING.digest()}"'.encode())
    with pytest.raises(InvalidCursor) as raised:
        codec.decode(signed(payload, b"a-secret-of-sixteen-chars"), BINDING)
    assert raised.value.reason == reason


def test_bindings_differ_by_every_part():
    parts = [Binding("a", "list_messages", "1", ()), Binding("b", "list_messages", "1", ()),
             Binding("a", "list_chats", "1", ()), Binding("a", "list_messages", "2", ()),
             Binding("a", "list_messages", None, ()),
             Binding("a", "list_messages", "1", (("q", "x"),)),
             Binding("a", "list_messages", "1", (("q", "y"),)),
             Binding("a", "list_messages", "1", (("q", "y"),), "OffsetPaging")]
    assert len({b.digest() for b in parts}) == len(parts)
