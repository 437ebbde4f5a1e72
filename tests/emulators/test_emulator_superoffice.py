"""SuperOffice emulator: exact Authorization, JSON or DataContract XML, after=<id>."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest
from lxml import etree
from yarl import URL

from gateway.emulators import STORE

BASE = "/api/v1"
NS = "{http://www.superoffice.net/ws/crm/NetServer/Services88}"
NIL = "{http://www.w3.org/2001/XMLSchema-instance}nil"
JSON = {"Accept": "application/json"}
XML = {"Accept": "application/xml"}


@pytest.fixture
async def client(make_client: Any) -> Any:
    return await make_client("superoffice")


@pytest.fixture
def headers(auth: dict[str, dict[str, str]]) -> dict[str, str]:
    return auth["superoffice"]


async def test_unauthorized_in_both_formats(client: Any) -> None:
    response = await client.get(f"{BASE}/ChatSession", headers={"Authorization": "SoTicket 7T:other", **JSON})
    assert response.status == 401
    body = await response.json()
    assert body["Error"] is True and body["ErrorType"] and body["ErrorMessage"]
    response = await client.get(f"{BASE}/ChatSession", headers=XML)
    assert response.status == 401 and etree.fromstring(await response.read()).tag == f"{NS}Error"


async def test_several_accepted_authorization_values(make_client: Any) -> None:
    client = await make_client("superoffice", auth=["Basic dGplMDpUamUw", "Bearer 7A:abc"])
    assert (await client.get(f"{BASE}/ChatSession/341", headers={"Authorization": "Bearer 7A:abc"})).status == 200
    assert (await client.get(f"{BASE}/ChatSession/341", headers={"Authorization": "SoTicket 7T:ZGVtbw=="})).status == 401


async def test_session_paging_follows_absolute_next_link(client: Any, headers: dict[str, str]) -> None:
    url, ids, links = f"{BASE}/ChatSession?$top=2", [], 0
    while url:
        body = await (await client.get(url, headers={**headers, **JSON})).json()
        ids += [str(session["ChatSessionId"]) for session in body["value"]]
        url = body.get("odata.nextLink")
        if url:
            links += 1
            assert URL(url).port == client.port and URL(url).query["$top"] == "2"
            url = URL(url).path_qs
    assert links == 2 and ids == client.app[STORE].chat_ids()


async def test_session_list_xml_shape(client: Any, headers: dict[str, str]) -> None:
    response = await client.get(f"{BASE}/ChatSession?$top=2&$skip=2", headers={**headers, **XML})
    root = etree.fromstring(await response.read())
    assert root.tag == f"{NS}ODataResult"
    assert root.findtext(f"{NS}odata.nextLink").endswith("/api/v1/ChatSession?$top=2&$skip=4")
    sessions = root.find(f"{NS}value").findall(f"{NS}ChatSession")
    assert [session.findtext(f"{NS}ChatSessionId") for session in sessions] == ["343", "344"]
    assert sessions[0].find(f"{NS}User").get(NIL) == "true"
    assert sessions[1].findtext(f"{NS}Status") == "InQueue"


async def test_session_not_found(client: Any, headers: dict[str, str]) -> None:
    response = await client.get(f"{BASE}/ChatSession/999", headers={**headers, **JSON})
    assert response.status == 404
    body = await response.json()
    assert body["Error"] is True and body["ErrorType"] == "SoNotFoundException"
    assert body["ErrorMessage"] == "ChatSession 999 not found" and body["ErrorSource"]
    response = await client.get(f"{BASE}/ChatSession/999", headers={**headers, "Accept": "text/xml"})
    root = etree.fromstring(await response.read())
    assert root.tag == f"{NS}Error" and root.findtext(f"{NS}ErrorType") == "SoNotFoundException"


async def test_messages_after_ascending_with_doc_example(client: Any, headers: dict[str, str]) -> None:
    rows = await (await client.get(f"{BASE}/ChatSession/341/Messages?after=957", headers={**headers, **JSON})).json()
    ids = [row["ChatMessageId"] for row in rows]
    assert ids == sorted(ids) and ids[0] == 958 and len(ids) == 989 - 957
    assert rows[0] == {
        "ChatMessageId": 958,
        "ChatSessionId": 341,
        "Type": "Invalid",
        "Message": "iure",
        "Author": "non",
        "ReadByCustomer": 482,
        "SpecialType": "Block",
        "SpecialParam": "odio",
        "WhenPosted": "2016-07-21T14:13:48.4445574+02:00",
    }
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}\+02:00", row["WhenPosted"]) for row in rows)
    everything = await (await client.get(f"{BASE}/ChatSession/341/Messages", headers=headers)).json()
    assert [str(row["ChatMessageId"]) for row in reversed(everything)] == client.app[STORE].message_ids_newest_first("341")
    assert (await client.get(f"{BASE}/ChatSession/341/Messages?after=x", headers=headers)).status == 400


async def test_messages_xml_array_with_nil(client: Any, headers: dict[str, str]) -> None:
    response = await client.get(f"{BASE}/ChatSession/342/Messages", headers={**headers, **XML})
    root = etree.fromstring(await response.read())
    assert root.tag == f"{NS}ArrayOfChatMessage" and root.nsmap == {None: NS[1:-1], "i": NIL[1:].split("}")[0]}
    messages = root.findall(f"{NS}ChatMessage")
    assert len(messages) == 3 and messages[0].findtext(f"{NS}SpecialType") == "Welcome"
    assert messages[1].find(f"{NS}SpecialParam").get(NIL) == "true"


async def test_post_json_message(make_client: Any, headers: dict[str, str]) -> None:
    client = await make_client("superoffice", clock=lambda: datetime(2025, 1, 15, 10, 0, 0, 123456, tzinfo=UTC))
    response = await client.post(f"{BASE}/ChatSession/344/Messages", json={"Message": "Hei på deg 👋"}, headers={**headers, **JSON})
    message = await response.json()
    assert message["ChatMessageId"] == 1002 and message["ChatSessionId"] == 344
    assert message["Type"] == "ToCustomer" and message["SpecialType"] == "None" and message["SpecialParam"] is None
    assert message["WhenPosted"] == "2025-01-15T11:00:00.1234560+01:00"
    assert client.app[STORE].message_ids_newest_first("344") == [str(message["ChatMessageId"])]


async def test_post_xml_message_any_prefix(client: Any, headers: dict[str, str]) -> None:
    body = (
        '<so:ChatMessage xmlns:so="http://www.superoffice.net/ws/crm/NetServer/Services88" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><so:Type>ToUser</so:Type>'
        "<so:Message>Blåbær &amp; fløte 🫐</so:Message><so:SpecialParam xsi:nil=\"true\"/>"
        "<so:ReadByCustomer>1</so:ReadByCustomer></so:ChatMessage>"
    )
    store = client.app[STORE]
    highest = max(int(message_id) for chat in store.chat_ids() for message_id in store.message_ids_newest_first(chat))
    response = await client.post(
        f"{BASE}/ChatSession/341/Messages", data=body.encode(), headers={**headers, **XML, "Content-Type": "application/xml"}
    )
    root = etree.fromstring(await response.read())
    assert root.tag == f"{NS}ChatMessage"
    assert root.findtext(f"{NS}Message") == "Blåbær & fløte 🫐" and root.findtext(f"{NS}Type") == "ToUser"
    assert root.findtext(f"{NS}ChatMessageId") == str(highest + 1) and root.findtext(f"{NS}ReadByCustomer") == "1"


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b'{"Type": "ToCustomer"}', "application/json", 400),
        (b'{"Message": "x", "Type": "Sideways"}', "application/json", 400),
        (b"<ChatMessage><Message>unclosed", "text/xml", 400),
        (
            b'<?xml version="1.0"?><!DOCTYPE m [<!ENTITY e SYSTEM "file:///etc/hostname">]>'
            b"<ChatMessage><Message>&e;</Message></ChatMessage>",
            "application/xml",
            400,
        ),
        (b"Message=hi", "application/x-www-form-urlencoded", 415),
    ],
    ids=["no-message", "bad-type", "broken-xml", "external-entity", "form"],
)
async def test_post_errors(client: Any, headers: dict[str, str], body: bytes, content_type: str, status: int) -> None:
    sent = {**headers, **JSON, "Content-Type": content_type}
    response = await client.post(f"{BASE}/ChatSession/341/Messages", data=body, headers=sent)
    assert response.status == status
    assert (await response.json())["Error"] is True


async def test_transfer(client: Any, headers: dict[str, str]) -> None:
    response = await client.post(f"{BASE}/ChatSession/344/TransferTo/7", headers={**headers, **JSON})
    assert await response.json() is True
    session = await (await client.get(f"{BASE}/ChatSession/344", headers=headers)).json()
    assert session["User"] == {"AssociateId": 7, "Name": "Ingrid Ås 🌲"} and session["Status"] != "InQueue"
    response = await client.post(f"{BASE}/ChatSession/343/TransferTo/5", headers={**headers, **XML})
    assert await response.text() == '<boolean xmlns="http://schemas.microsoft.com/2003/10/Serialization/">true</boolean>'
    assert (await client.post(f"{BASE}/ChatSession/343/TransferTo/99", headers=headers)).status == 404
