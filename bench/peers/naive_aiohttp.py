"""A naive hand-written translating proxy for the bench's JSON case: aiohttp server and
client, the same libraries as the gateway, no framework around them.

    python bench/peers/naive_aiohttp.py --port P --upstream http://127.0.0.1:N/<base> --key K
        [--json orjson]

GET /v1/x/chats/{chat_id}/messages checks the bearer key, fetches the upstream's
message page, renames each message's fields onto the canonical message (the same
fields the gateway's mapping fills; dates passed through as they are) and answers
{"data": [...], "next_cursor": <the upstream's next link>}.
"""

from __future__ import annotations

import argparse
import json

import aiohttp
from aiohttp import web


def rename(message: dict, chat_id: str) -> dict:
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--json", choices=["stdlib", "orjson"], default="stdlib")
    args = parser.parse_args()
    if args.json == "orjson":
        import orjson
        loads, dumps = orjson.loads, lambda data: orjson.dumps(data).decode()
    else:
        loads = json.loads
        dumps = lambda data: json.dumps(data, ensure_ascii=False, separators=(",", ":"))  # noqa: E731
    expected = f"Bearer {args.key}"
    headers = {"key": "bench", "exchange": "bench", "Accept": "application/json"}
    session_key = web.AppKey("session", aiohttp.ClientSession)

    async def messages(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != expected:
            return web.json_response({"title": "Unauthorized"}, status=401)
        chat_id = request.match_info["chat_id"]
        url = f"{args.upstream}/messages/chat.json?with_id={chat_id}"
        async with request.app[session_key].get(url, headers=headers) as response:
            page = loads(await response.read())
        data = [rename(m, chat_id) for m in page["messages"]]
        return web.Response(text=dumps({"data": data, "next_cursor": page.get("next_page")}),
                            content_type="application/json")

    async def session(app: web.Application):
        app[session_key] = aiohttp.ClientSession()
        yield
        await app[session_key].close()

    app = web.Application()
    app.cleanup_ctx.append(session)
    app.router.add_get("/v1/{upstream}/chats/{chat_id}/messages", messages)
    web.run_app(app, host="127.0.0.1", port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
