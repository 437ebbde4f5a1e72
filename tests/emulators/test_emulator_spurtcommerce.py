"""Spurtcommerce emulator: Bearer auth, JSON or converter-XML, unordered history."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from lxml import etree

from gateway.emulators import RECORDED, STORE

BASE = "/backend/api"


@pytest.fixture
async def client(make_client: Any) -> Any:
    return await make_client("spurtcommerce")


@pytest.fixture
def headers(auth: dict[str, dict[str, str]]) -> dict[str, str]:
    return auth["spurtcommerce"]


@pytest.mark.parametrize(
    ("sent", "message"),
    [({}, "No authorization token was found"), ({"Authorization": "Bearer nope"}, "invalid token")],
    ids=["missing", "wrong"],
)
async def test_unauthorized(client: Any, sent: dict[str, str], message: str) -> None:
    response = await client.get(f"{BASE}/chat-vendor", headers=sent)
    assert response.status == 401
    assert await response.json() == {"name": "UnauthorizedError", "message": message}


async def test_vendor_and_admin_list(client: Any, headers: dict[str, str]) -> None:
    vendor = await (await client.get(f"{BASE}/chat-vendor", headers=headers)).json()
    assert vendor["status"] == 1 and vendor["message"] == "Successfully Got Vendor Details"
    assert vendor["data"]["vendorId"] == 314 and vendor["data"]["userId"] == 1314
    admins = await (await client.get(f"{BASE}/chat-vendor/admin-list", headers=headers)).json()
    assert admins["message"] == "Successfully Got Admin List"
    assert [str(admin["userId"]) for admin in admins["data"]] == client.app[STORE].chat_ids() == ["1", "2", "3", "4", "5"]


async def test_history_rows_both_directions_unordered(client: Any, headers: dict[str, str]) -> None:
    response = await client.get(f"{BASE}/chat-vendor/chat-history", params={"userId": "1"}, headers=headers)
    body = await response.json()
    assert body["status"] == 1 and body["message"] == "Successfully Got Chat History..!"
    rows = body["data"]
    assert len(rows) == 50
    assert {(row["senderId"], row["receiverId"]) for row in rows} == {(1, 1314), (1314, 1)}
    assert [row["id"] for row in rows] != sorted(row["id"] for row in rows)
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", row["createdDate"]) for row in rows)
    assert all(json.loads(row["message"])["body"] for row in rows)
    newest_first = sorted(rows, key=lambda row: row["createdDate"], reverse=True)
    assert [str(row["id"]) for row in newest_first] == client.app[STORE].message_ids_newest_first("1")


async def test_xml_when_accept_asks_for_it(client: Any, headers: dict[str, str]) -> None:
    response = await client.get(f"{BASE}/chat-vendor/chat-history?userId=5", headers={**headers, "Accept": "application/xml"})
    assert response.content_type == "application/xml"
    text = await response.text()
    assert text.startswith('<?xml version="1.0"?>\n<object><status>1</status>')
    root = etree.fromstring(text.encode())
    rows = root.findall("data")
    assert len(rows) == 7
    assert json.loads(rows[0].findtext("message"))["body"]
    # A one-row list is a single <data> element, indistinguishable from an object.
    single = await client.get(f"{BASE}/chat-vendor/chat-history?userId=3", headers={**headers, "Accept": "text/xml"})
    assert len(etree.fromstring(await single.read()).findall("data")) == 1


async def test_admin_names_are_escaped_in_xml(client: Any, headers: dict[str, str]) -> None:
    response = await client.get(f"{BASE}/chat-vendor/admin-list", headers={**headers, "Accept": "application/xml"})
    root = etree.fromstring(await response.read())
    assert "<Singh> & Sons" in [data.findtext("lastName") for data in root.findall("data")]


@pytest.mark.parametrize(
    ("query", "status", "body"),
    [
        ("", 422, {"status": 0, "message": "Validation failed", "data": {"message": ["userId is required"]}}),
        ("?userId=abc", 400, {"status": 0, "message": "Invalid UserId..!"}),
        ("?userId=999", 400, {"status": 0, "message": "Invalid UserId..!"}),
    ],
    ids=["missing", "not-int", "unknown"],
)
async def test_history_errors(
    client: Any, headers: dict[str, str], query: str, status: int, body: dict[str, Any]
) -> None:
    response = await client.get(f"{BASE}/chat-vendor/chat-history{query}", headers=headers)
    assert response.status == status
    assert await response.json() == body


@pytest.mark.parametrize("path", ["/chat-vendor", "/chat-vendor/admin-list", "/chat-vendor/chat-history?userId=1"])
async def test_addon_disabled_is_200_with_status_0(make_client: Any, headers: dict[str, str], path: str) -> None:
    client = await make_client("spurtcommerce", addon_enabled=False)
    response = await client.get(BASE + path, headers=headers)
    assert response.status == 200
    assert await response.json() == {"status": 0, "message": "you dont have access for it, please enable addon"}


async def test_no_rest_send(client: Any, headers: dict[str, str]) -> None:
    response = await client.post(f"{BASE}/chat-vendor/chat-history?userId=1", json={"message": "hi"}, headers=headers)
    assert response.status == 405


async def test_added_message_in_configured_zone(make_client: Any, headers: dict[str, str]) -> None:
    client = await make_client("spurtcommerce", clock=lambda: datetime(2024, 1, 1, 0, 0, tzinfo=UTC))
    new_id = client.app[STORE].add_message("4", "नमस्ते 👋", inbound=True)
    rows = (await (await client.get(f"{BASE}/chat-vendor/chat-history?userId=4", headers=headers)).json())["data"]
    assert rows == [
        {
            "id": int(new_id),
            "senderId": 4,
            "receiverId": 1314,
            "message": rows[0]["message"],
            "messageId": rows[0]["messageId"],
            "isRead": 0,
            "createdDate": "2024-01-01 05:30:00",
        }
    ]
    assert json.loads(rows[0]["message"])["body"] == "नमस्ते 👋"
    assert client.app[RECORDED][-1].query == [("userId", "4")]
