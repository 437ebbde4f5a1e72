"""A naive hand-written translating proxy for each of the bench's cases: aiohttp server
and client, the same libraries as the gateway, no framework around them. It is the
floor of a gateway built on these libraries: what the same answers cost when nothing
but the translation itself is done.

    python bench/peers/naive_aiohttp.py --port P --upstream-root http://127.0.0.1:N --key K
        [--json orjson]

Each route checks the bearer key, fetches what the case needs, renames each message's
fields onto the canonical message (the fields the gateway's mapping fills; dates passed
through as they are) and answers {"data": [...], "next_cursor": ...}:
- GET /v1/storeden/chats/{chat_id}/messages: one JSON page (the `json` case);
- GET /v1/superoffice/chats/{chat_id}/messages?limit=N: one XML answer holding every
  message, parsed by lxml with the gateway's safety settings, newest N first (`xml`);
- GET /v1/smartsender/chats/{chat_id}/messages?limit=N: 20-item JSON pages, one after
  the other, until N are read or the pages end (`walk`).
"""

from __future__ import annotations

import argparse
import json

import aiohttp
from aiohttp import web
from lxml import etree


def rename_json(message: dict, chat_id: str) -> dict:
    return {
        "id": message["message_id"],
        "chat_id": chat_id,
        "text": message["message"],
        "media": [],
        "direction": "outbound" if message["from_myself"] else "inbound",
        "sender": {"id": str(message["from_id"]), "name": None},
        "sent_at": message["send_date"],
        "read": message["read_by"]["with_id"] != "",
        "type": "text",
    }


def rename_xml(fields: dict) -> dict:
    kind = fields.get("Type")
    return {
        "id": fields["ChatMessageId"],
        "chat_id": fields["ChatSessionId"],
        "text": fields.get("Message"),
        "media": [],
        "direction": {"ToCustomer": "outbound", "ToUser": "inbound"}.get(kind),
        "sender": {"id": None, "name": fields.get("Author")},
        "sent_at": fields.get("WhenPosted"),
        "read": fields.get("ReadByCustomer") == "1",
        "type": "system" if kind == "Special" else "text",
    }


def rename_page_item(message: dict, chat_id: str) -> dict:
    content = message["content"]
    url = content["resource"].get("url")
    kind = "image" if content["type"] == "picture" else content["type"]
    return {
        "id": message["id"],
        "chat_id": chat_id,
        "text": content["resource"]["parameters"]["content"],
        "media": [{"url": url, "type": kind}] if url else [],
        "direction": "inbound" if message["sender"]["type"] == "contact" else "outbound",
        "sender": {"id": None, "name": message["sender"]["fullName"]},
        "sent_at": message["createdAt"],
        "read": message["seenAt"] is not None,
        "type": kind,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream-root", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--json", choices=["stdlib", "orjson"], default="stdlib")
    args = parser.parse_args()
    if args.json == "orjson":
        import orjson
        loads, dumps = orjson.loads, lambda data: orjson.dumps(data).decode()
    else:
        loads = json.loads
        dumps = lambda data: json.dumps(data, ensure_ascii=False, separators=(",", ":"))  # noqa: E731
    root = args.upstream_root
    expected = f"Bearer {args.key}"
    session_key = web.AppKey("session", aiohttp.ClientSession)
    xml_parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                                 huge_tree=False, remove_comments=True, remove_pis=True)

    def answer(data: list, next_cursor: object) -> web.Response:
        return web.Response(text=dumps({"data": data, "next_cursor": next_cursor}),
                            content_type="application/json")

    def unauthorized(request: web.Request) -> web.Response | None:
        if request.headers.get("Authorization") != expected:
            return web.json_response({"title": "Unauthorized"}, status=401)
        return None

    async def json_page(request: web.Request) -> web.Response:
        if refused := unauthorized(request):
            return refused
        chat_id = request.match_info["chat_id"]
        url = f"{root}/storeden/v1.1/messages/chat.json?with_id={chat_id}"
        headers = {"key": "bench", "exchange": "bench", "Accept": "application/json"}
        async with request.app[session_key].get(url, headers=headers) as response:
            page = loads(await response.read())
        return answer([rename_json(m, chat_id) for m in page["messages"]], page.get("next_page"))

    async def xml_page(request: web.Request) -> web.Response:
        if refused := unauthorized(request):
            return refused
        chat_id, limit = request.match_info["chat_id"], int(request.query.get("limit", 20))
        url = f"{root}/superoffice/api/v1/ChatSession/{chat_id}/Messages"
        headers = {"Authorization": "SoTicket 7T:YmVuY2g=", "Accept": "application/xml"}
        async with request.app[session_key].get(url, headers=headers) as response:
            document = etree.fromstring(await response.read(), parser=xml_parser)
        records = [{child.tag.rpartition("}")[2]: child.text for child in record}
                   for record in document]
        records.sort(key=lambda fields: int(fields["ChatMessageId"]), reverse=True)
        more = len(records) > limit
        return answer([rename_xml(fields) for fields in records[:limit]],
                      records[limit - 1]["ChatMessageId"] if more else None)

    async def walked_pages(request: web.Request) -> web.Response:
        if refused := unauthorized(request):
            return refused
        chat_id, limit = request.match_info["chat_id"], int(request.query.get("limit", 20))
        headers = {"Authorization": "Bearer bench", "Accept": "application/json"}
        data: list = []
        number = 1
        while True:
            url = f"{root}/smartsender/v1/chats/{chat_id}/messages?page={number}&limitation=20"
            async with request.app[session_key].get(url, headers=headers) as response:
                page = loads(await response.read())
            data += [rename_page_item(m, chat_id) for m in page["collection"]]
            if len(data) >= limit or number >= page["cursor"]["pages"]:
                break
            number += 1
        more = len(data) > limit or number < page["cursor"]["pages"]
        return answer(data[:limit], data[limit - 1]["id"] if more else None)

    async def session(app: web.Application):
        app[session_key] = aiohttp.ClientSession()
        yield
        await app[session_key].close()

    app = web.Application()
    app.cleanup_ctx.append(session)
    app.router.add_get("/v1/storeden/chats/{chat_id}/messages", json_page)
    app.router.add_get("/v1/superoffice/chats/{chat_id}/messages", xml_page)
    app.router.add_get("/v1/smartsender/chats/{chat_id}/messages", walked_pages)
    web.run_app(app, host="127.0.0.1", port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
