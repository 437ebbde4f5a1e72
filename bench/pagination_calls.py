"""Upstream calls per canonical page, for each vendor's paged lists.

Starts the five emulators and the gateway on loopback, seeds a large chat (and many
chats), walks `next_cursor` to the end at limit 1, 20, 50 and 100, counts the requests
each emulator received per canonical page, and prints a Markdown table:

    .venv/bin/python bench/pagination_calls.py [--items 250]

A cell reads `first / later` when the first page and the resumed pages differ
(`later` is the range over the whole walk, the empty last page included if any).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

import aiohttp
from aiohttp import web
from prometheus_client import CollectorRegistry

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gateway.emulators import RECORDED, STORE, start_emulators  # noqa: E402
from gateway.server import create_app  # noqa: E402
from gateway.state import STATE  # noqa: E402

LIMITS = (1, 20, 50, 100)
# (upstream, operation, chat whose messages are listed)
LISTS = (
    ("smartsender", "list_messages", "7001"),
    ("storeden", "list_messages", "49077"),
    ("superoffice", "list_messages", "341"),
    ("hapihub", "list_messages", "room-001"),
    ("spurtcommerce", "list_messages", "1"),
    ("smartsender", "list_chats", None),
    ("superoffice", "list_chats", None),
)
KEY, SECRET = "bench-api-key-0123456789", "bench-cursor-secret-0123456789"


async def walk(session: aiohttp.ClientSession, base: str, path: str, limit: int,
               recorded: list) -> tuple[list[int], int]:
    calls, cursor, items = [], None, 0
    while True:
        params = {"limit": str(limit), **({"cursor": cursor} if cursor else {})}
        before = len(recorded)
        async with session.get(base + path, params=params,
                               headers={"Authorization": f"Bearer {KEY}"}) as response:
            body = await response.json()
            if response.status != 200:
                raise SystemExit(f"{path}: {response.status} {body}")
        calls.append(len(recorded) - before)
        items += len(body["data"])
        cursor = body["next_cursor"]
        if cursor is None:
            return calls, items


def cell(calls: list[int]) -> str:
    first, later = calls[0], calls[1:]
    if not later or set(later) == {first}:
        return str(first)
    low, high = min(later), max(later)
    return f"{first} / {low}" if low == high else f"{first} / {low}–{high}"


async def main(items: int) -> None:
    emulators = await start_emulators("127.0.0.1")
    env = {**emulators.env(), "GATEWAY_API_KEYS": KEY, "GATEWAY_CURSOR_SECRET": SECRET}
    app = create_app(ROOT / "routes.yaml", env, registry=CollectorRegistry())
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    config = app[STATE].config
    print(f"{items} items per list; upstream calls per canonical page "
          "(first page / resumed pages)\n")
    print("| upstream | list | paging | p | " + " | ".join(f"limit {n}" for n in LIMITS) + " |")
    print("|---|---|---|---|" + "---|" * len(LIMITS))
    try:
        async with aiohttp.ClientSession() as session:
            for upstream, operation, chat in LISTS:
                data = emulators.apps[upstream][STORE]
                if chat is None:
                    data.seed_chats(items)
                    path = f"/v1/{upstream}/chats"
                else:
                    data.seed_messages(chat, items)
                    path = f"/v1/{upstream}/chats/{chat}/messages"
                paginator = config.routes[upstream].upstream.operations[operation].paginator
                kind = type(paginator).__name__
                cells = []
                for limit in LIMITS:
                    calls, seen = await walk(session, base, path, limit,
                                             emulators.apps[upstream][RECORDED])
                    assert seen == items, (upstream, operation, limit, seen)
                    cells.append(cell(calls))
                print(f"| {upstream} | {operation} | {kind} | {paginator.page_size or '–'} | "
                      + " | ".join(cells) + " |")
    finally:
        await runner.cleanup()
        await emulators.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=250)
    asyncio.run(main(parser.parse_args().items))
