"""Exact pagination over every paging style, through the gateway, over real HTTP.

The property tests (Hypothesis) drive the five emulators and the gateway on loopback
from a sync test on a private event loop (`Live`), because `@given` cannot wrap an
async test; each example re-seeds the upstream store and walks `next_cursor` to the end.
The edge cases use the ordinary async fixtures of `conftest.py`; a few paginator
behaviours no emulator can produce are unit-tested on a fake `PageSource`.
"""

from __future__ import annotations

import asyncio
import math
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from gateway.emulators import FAULTS, STORE, start_emulators
from gateway.errors import MappingError
from gateway.exchange import Answer, Extra
from gateway.paginators import build_paginator, walk
from gateway.paginators.walk import Page
from gateway.server import create_app
from gateway.state import STATE
from tests.conftest import API_KEY, AUTH, ROUTES, SECRET, recorded, store

# --- the paging styles, as the mappings declare them -------------------------------


@dataclass(frozen=True)
class Style:
    upstream: str
    operation: str  # list_messages | list_chats
    kind: str  # the mapping's pagination type
    page_size: int | None  # the upstream's page size; None: everything in one answer
    chat: str = ""  # the chat the message tests seed (an id the upstream's params allow)
    reverse: bool = False  # link_header walked backwards: one more call to read rel="last"

    def __str__(self) -> str:
        return f"{self.upstream}-{self.operation}-{self.kind}"

    @property
    def path(self) -> str:
        if self.operation == "list_chats":
            return f"/v1/{self.upstream}/chats"
        return f"/v1/{self.upstream}/chats/{self.chat}/messages"

    def max_calls(self, limit: int) -> int:
        """Upstream calls one canonical page may cost: ceil(limit/p)+1, or 1 for `none`;
        walking backwards, one more (the first page, read for its rel="last" link)."""
        if self.page_size is None:
            return 1
        return math.ceil(limit / self.page_size) + 1 + self.reverse

    def seed(self, emulators: Any, size: int) -> list[str]:
        """Seed `size` items; the ids a full walk must return, in canonical order."""
        data = emulators.apps[self.upstream][STORE]
        if self.operation == "list_chats":
            data.seed_chats(size)
            return data.chat_ids()
        data.seed_messages(self.chat, size)
        return self.expected(emulators)

    def expected(self, emulators: Any) -> list[str]:
        data = emulators.apps[self.upstream][STORE]
        if self.operation == "list_chats":
            return data.chat_ids()
        return data.message_ids_newest_first(self.chat)


MESSAGES = [
    Style("smartsender", "list_messages", "page_number", 20, chat="7101"),
    Style("storeden", "list_messages", "next_url", 30, chat="60001"),
    Style("superoffice", "list_messages", "none", None, chat="901"),
    Style("hapihub", "list_messages", "offset", 100, chat="room-prop"),
    Style("spurtcommerce", "list_messages", "none", None, chat="901"),
    Style("slack", "list_messages", "cursor", 15, chat="C0PROP001"),
    Style("github", "list_messages", "link_header", 100, chat="4242", reverse=True),
]
CHATS = [
    Style("smartsender", "list_chats", "page_number", 20),
    Style("superoffice", "list_chats", "offset", 100),
    Style("storeden", "list_chats", "none", None),
    Style("hapihub", "list_chats", "none", None),
    Style("spurtcommerce", "list_chats", "none", None),
    Style("slack", "list_chats", "cursor", 200),
    Style("github", "list_chats", "link_header", 100),
]
STYLES = MESSAGES + CHATS


# --- walking next_cursor -----------------------------------------------------------

Get = Callable[[str, dict[str, str]], Awaitable[tuple[int, Any]]]


@dataclass
class Walked:
    ids: list[str] = field(default_factory=list)
    items: list[dict[str, Any]] = field(default_factory=list)
    pages: list[list[str]] = field(default_factory=list)
    calls: list[int] = field(default_factory=list)  # upstream calls per canonical page
    limits: list[int] = field(default_factory=list)
    cursors: list[str | None] = field(default_factory=list)


async def walk_cursors(get: Get, upstream_calls: Callable[[], int], path: str,
                       limits: list[int], *, params: dict[str, str] | None = None,
                       between: Callable[[int], None] | None = None,
                       max_pages: int = 400) -> Walked:
    """Follow next_cursor to the end; `between(i)` runs after page i (e.g. adds items)."""
    walked, cursor = Walked(), None
    for index in range(max_pages):
        limit = limits[index % len(limits)]
        query = {**(params or {}), "limit": str(limit)}
        if cursor is not None:
            query["cursor"] = cursor
        before = upstream_calls()
        status, body = await get(path, query)
        assert status == 200, body
        ids = [item["id"] for item in body["data"]]
        assert len(ids) <= limit
        walked.ids += ids
        walked.items += body["data"]
        walked.pages.append(ids)
        walked.calls.append(upstream_calls() - before)
        walked.limits.append(limit)
        cursor = body["next_cursor"]
        walked.cursors.append(cursor)
        if cursor is None:
            return walked
        if between is not None:
            between(index)
    raise AssertionError(f"no end after {max_pages} pages")


def client_get(client: Any) -> Get:
    async def get(path: str, params: dict[str, str]) -> tuple[int, Any]:
        response = await client.get(path, params=params, headers=AUTH)
        return response.status, await response.json()
    return get


def counter(emulators: Any, name: str) -> Callable[[], int]:
    return lambda: len(recorded(emulators, name))


# --- a live gateway for Hypothesis ------------------------------------------------


class Live:
    """The emulators and the gateway on loopback ports, on a private event loop that
    sync tests drive with `run()`: what Hypothesis' `@given` needs."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.run(self._start())

    def run(self, coro: Awaitable[Any]) -> Any:
        return self.loop.run_until_complete(coro)

    async def _start(self) -> None:
        self.emulators = await start_emulators("127.0.0.1")
        env = {**self.emulators.env(), "GATEWAY_API_KEYS": API_KEY, "GATEWAY_CURSOR_SECRET": SECRET}
        await self._serve(ROUTES, env)

    async def _serve(self, routes: Any, env: dict[str, str]) -> None:
        self.app = create_app(routes, env, registry=CollectorRegistry())
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.base = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        self.session = aiohttp.ClientSession()

    async def get(self, path: str, params: dict[str, str]) -> tuple[int, Any]:
        async with self.session.get(self.base + path, params=params, headers=AUTH) as response:
            return response.status, await response.json()

    async def _stop(self) -> None:
        await self.emulators.close()

    def close(self) -> None:
        async def stop() -> None:
            await self.session.close()
            await self._runner.cleanup()
            await self._stop()
        self.run(stop())
        self.loop.close()


@pytest.fixture(scope="module")
def live():
    running = Live()
    yield running
    running.close()


LIMIT = st.one_of(st.integers(1, 100), st.sampled_from([1, 19, 20, 21, 29, 30, 31, 99, 100]))
LIMITS = st.lists(LIMIT, min_size=1, max_size=4)  # cycled: the limit may change between pages
# PAGINATION_EXAMPLES=300 for a soak run; 18 keeps the file well under a minute.
PROPERTY = settings(max_examples=int(os.environ.get("PAGINATION_EXAMPLES", "18")),
                    deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow])


def test_the_styles_are_the_mappings(live):
    """The table above is what the loaded mappings say (page sizes included)."""
    config = live.app[STATE].config
    for style in STYLES:
        paginator = config.routes[style.upstream].upstream.operations[style.operation].paginator
        assert paginator.page_size == style.page_size, style


@pytest.mark.parametrize("style", STYLES, ids=str)
@PROPERTY
@given(size=st.integers(0, 130), limits=LIMITS)
def test_walking_cursors_returns_every_item_once_in_order(live, style, size, limits):
    expected = style.seed(live.emulators, size)
    walked = live.run(walk_cursors(live.get, counter(live.emulators, style.upstream),
                                   style.path, limits))
    assert walked.ids == expected
    for limit, calls in zip(walked.limits, walked.calls, strict=True):
        assert 1 <= calls <= style.max_calls(limit), (limit, walked.calls)
    # every page but the last is full: the gateway never answers short while more exist
    for limit, page in zip(walked.limits[:-1], walked.pages[:-1], strict=True):
        assert len(page) == limit


@pytest.mark.parametrize("style", MESSAGES, ids=str)
@PROPERTY
@given(size=st.integers(0, 130), limits=LIMITS, added=st.lists(st.integers(0, 3), min_size=1))
def test_messages_added_while_walking_shift_nothing(live, style, size, limits, added):
    """New messages arrive (newest first, so ahead of the walk) between pages: the walk
    still returns the original messages exactly once, and none of the new ones."""
    expected = style.seed(live.emulators, size)
    data = live.emulators.apps[style.upstream][STORE]
    new: list[str] = []

    def arrive(index: int) -> None:
        for n in range(added[index % len(added)]):
            new.append(data.add_message(style.chat, f"new {index}.{n}"))

    walked = live.run(walk_cursors(live.get, counter(live.emulators, style.upstream),
                                   style.path, limits, between=arrive))
    assert walked.ids == expected
    for limit, calls in zip(walked.limits, walked.calls, strict=True):
        # +1: a page may be read ahead to find where the walk left off
        assert calls <= style.max_calls(limit) + 1, (limit, walked.calls)


# --- edge cases, each on fresh emulators -------------------------------------------


def queries(emulators: Any, name: str, since: int = 0) -> list[dict[str, str]]:
    return [dict(r.query) for r in recorded(emulators, name)[since:]]


async def test_limit_beyond_the_upstream_maximum_spans_upstream_pages(gateway, emulators):
    data = store(emulators, "smartsender")
    data.seed_messages("7001", 130)
    expected = data.message_ids_newest_first("7001")

    response = await gateway.get("/v1/smartsender/chats/7001/messages?limit=100", headers=AUTH)
    body = await response.json()
    assert [m["id"] for m in body["data"]] == expected[:100]
    assert [(q["page"], q["limitation"]) for q in queries(emulators, "smartsender")] == \
        [(str(n), "20") for n in range(1, 6)]  # 5 upstream calls, never more than 20 a page

    since = len(recorded(emulators, "smartsender"))
    response = await gateway.get("/v1/smartsender/chats/7001/messages", headers=AUTH,
                                 params={"limit": "100", "cursor": body["next_cursor"]})
    body = await response.json()
    assert [m["id"] for m in body["data"]] == expected[100:]
    assert body["next_cursor"] is None
    assert [q["page"] for q in queries(emulators, "smartsender", since)] == ["6", "7"]


@pytest.mark.parametrize("upstream,chat,size,limit,calls", [
    ("storeden", "49077", 60, 30, [1, 1]),
    ("smartsender", "7001", 40, 20, [1, 1]),
    ("hapihub", "room-001", 40, 20, [1, 1]),
], ids=["storeden-60-by-30", "smartsender-40-by-20", "hapihub-40-by-20"])
async def test_an_exactly_full_last_page_ends_the_walk(gateway, emulators, upstream, chat, size,
                                                       limit, calls):
    """The upstream says whether more exist (next link, total pages, one item more than
    asked): an exactly full last page carries next_cursor null, no empty page follows."""
    store(emulators, upstream).seed_messages(chat, size)
    walked = await walk_cursors(client_get(gateway), counter(emulators, upstream),
                                f"/v1/{upstream}/chats/{chat}/messages", [limit])
    assert walked.pages == [walked.ids[:limit], walked.ids[limit:]]
    assert walked.cursors[-1] is None and walked.calls == calls


async def test_offset_paging_at_its_maximum_page_size_ends_on_an_empty_page(gateway, emulators):
    """The one case the design cannot tell in advance: limit == max_page_size (100) on an
    offset style cannot ask one item more, so 100 chats by 100 cost one empty page."""
    store(emulators, "superoffice").seed_chats(100)
    walked = await walk_cursors(client_get(gateway), counter(emulators, "superoffice"),
                                "/v1/superoffice/chats", [100])
    assert [len(p) for p in walked.pages] == [100, 0]
    assert walked.calls == [1, 1]
    assert [q["$top"] for q in queries(emulators, "superoffice")] == ["100", "100"]

    store(emulators, "superoffice").seed_chats(99)
    walked = await walk_cursors(client_get(gateway), counter(emulators, "superoffice"),
                                "/v1/superoffice/chats", [99])
    assert [len(p) for p in walked.pages] == [99] and walked.calls == [1]


async def test_an_empty_upstream_page_with_a_next_link_is_skipped(gateway, emulators):
    data = store(emulators, "storeden")
    expected = data.message_ids_newest_first("49077")  # 100 messages
    page_2 = f"{emulators.base_urls['storeden']}/messages/chat.json?with_id=49077&page=2"
    emulators.apps["storeden"][FAULTS].add(
        "status", path="/messages/chat.json", status=200,
        body=f'{{"messages": [], "next_page": "{page_2}"}}'.encode())

    response = await gateway.get("/v1/storeden/chats/49077/messages?limit=20", headers=AUTH)
    body = await response.json()
    assert [m["id"] for m in body["data"]] == expected[30:50]
    assert [q.get("page") for q in queries(emulators, "storeden")] == [None, "2"]


async def test_an_empty_page_number_page_short_of_the_total_is_skipped(gateway, emulators):
    expected = store(emulators, "smartsender").message_ids_newest_first("7001")  # 75
    emulators.apps["smartsender"][FAULTS].add(
        "status", path="/chats/7001/messages", status=200,
        body=b'{"cursor": {"page": 1, "pages": 4}, "collection": []}')
    response = await gateway.get("/v1/smartsender/chats/7001/messages?limit=25", headers=AUTH)
    body = await response.json()
    assert [m["id"] for m in body["data"]] == expected[20:45]
    assert [q["page"] for q in queries(emulators, "smartsender")] == ["1", "2", "3"]


async def walk_while_adding(gateway, emulators, style: Style, size: int, limits: list[int],
                            per_page: int) -> tuple[list[str], list[str]]:
    """Walk `style`'s messages, adding `per_page` new ones between pages; the ids walked
    and the ids the walk must return (the original ones: new ones are ahead of it)."""
    expected = style.seed(emulators, size)
    data, new = store(emulators, style.upstream), []
    walked = await walk_cursors(
        client_get(gateway), counter(emulators, style.upstream), style.path, limits,
        between=lambda i: new.extend(data.add_message(style.chat, f"new {i}.{n}")
                                     for n in range(per_page)))
    return walked.ids, expected


@pytest.mark.parametrize("style", MESSAGES, ids=lambda s: s.upstream)
async def test_messages_added_between_pages_cause_no_duplicates_and_no_gaps(
        gateway, emulators, style):
    walked, expected = await walk_while_adding(gateway, emulators, style, 75, [7, 19, 1, 33], 2)
    assert walked == expected


@pytest.mark.parametrize("style", MESSAGES, ids=lambda s: s.upstream)
async def test_a_burst_of_new_messages_between_pages_shifts_nothing(gateway, emulators, style):
    """19 new messages between every two pages of 1 to 10: the tolerance the design
    promises is about one upstream page (15 for the smallest)."""
    walked, expected = await walk_while_adding(gateway, emulators, style, 60, [10, 1, 9], 19)
    assert walked == expected


AFTER_NATIVE = {"superoffice": "after", "slack": "oldest"}  # the query parameter it goes in
POLLED = MESSAGES


@pytest.mark.parametrize("upstream,chat", [(s.upstream, s.chat) for s in POLLED],
                         ids=[s.upstream for s in POLLED])
async def test_after_returns_only_newer_messages(gateway, emulators, upstream, chat):
    data = store(emulators, upstream)
    data.seed_messages(chat, 50)
    expected = data.message_ids_newest_first(chat)
    after = expected[33]
    since = len(recorded(emulators, upstream))

    walked = await walk_cursors(client_get(gateway), counter(emulators, upstream),
                                f"/v1/{upstream}/chats/{chat}/messages", [10],
                                params={"after": after})
    assert walked.ids == expected[:33]
    sent = queries(emulators, upstream, since)
    param = AFTER_NATIVE.get(upstream, "after")
    assert all((q.get(param) == after) == (upstream in AFTER_NATIVE) for q in sent)

    # polling with the newest id: nothing newer, one upstream call, no cursor
    since = len(recorded(emulators, upstream))
    response = await gateway.get(f"/v1/{upstream}/chats/{chat}/messages",
                                 params={"after": expected[0]}, headers=AUTH)
    assert await response.json() == {"data": [], "next_cursor": None}
    assert len(recorded(emulators, upstream)) - since == 1

    # a message arrives: the next poll returns just it
    new = data.add_message(chat, "a new one")
    response = await gateway.get(f"/v1/{upstream}/chats/{chat}/messages",
                                 params={"after": expected[0]}, headers=AUTH)
    assert [m["id"] for m in (await response.json())["data"]] == [new]


async def test_after_on_an_upstream_page_boundary_costs_one_empty_page(gateway, emulators):
    """Gateway-side `after` stops at the item; when the canonical page fills exactly at
    an upstream page's end, the gateway cannot know the next item is the stop without
    one more call, so the walk ends on an empty page (by design, not a gap)."""
    expected = store(emulators, "smartsender").message_ids_newest_first("7001")
    walked = await walk_cursors(client_get(gateway), counter(emulators, "smartsender"),
                                "/v1/smartsender/chats/7001/messages", [20],
                                params={"after": expected[40]})
    assert walked.pages == [expected[:20], expected[20:40], []]
    assert walked.calls == [1, 1, 1]


@pytest.mark.parametrize("upstream,q,native", [
    ("superoffice", "kunde 11", False),
    ("storeden", "cliente 1", False),
    ("hapihub", "kuwarto 1", False),
    ("smartsender", "контакт 1", True),
], ids=["superoffice-offset-gateway-q", "storeden-none-gateway-q", "hapihub-none-gateway-q",
        "smartsender-page-number-native-q"])
@pytest.mark.parametrize("limits", [[1], [3, 20], [100]], ids=["1", "3-20", "100"])
async def test_filtered_chats_walk_exactly(gateway, emulators, upstream, q, native, limits):
    """`q` (by the gateway, or the upstream's own search) over 130 chats: every match
    exactly once, in the upstream's order, whatever the limit."""
    store(emulators, upstream).seed_chats(130)
    path, calls = f"/v1/{upstream}/chats", counter(emulators, upstream)
    every = await walk_cursors(client_get(gateway), calls, path, [100])
    expected = [c["id"] for c in every.items if q in c["title"].casefold()]
    assert 10 < len(expected) < 130

    since = len(recorded(emulators, upstream))
    walked = await walk_cursors(client_get(gateway), calls, path, limits, params={"q": q})
    assert walked.ids == expected
    assert all(("term" in query) == native for query in queries(emulators, upstream, since))


@pytest.mark.parametrize("link", [
    "http://127.0.0.1:{other_port}/v1.1/messages/chat.json?with_id=49077&page=2",
    "http://203.0.113.9/v1.1/messages/chat.json?with_id=49077&page=2",
    "https://127.0.0.1:{port}/v1.1/messages/chat.json?with_id=49077&page=2",
    "http://127.0.0.1:{port}/admin/messages/chat.json?page=2",
    "http://127.0.0.1:{port}/v1.10/messages/chat.json?with_id=49077&page=2",
    "http://127.0.0.1:{port}/v1.1/../admin/chat.json?page=2",
    "http://127.0.0.1:{port}/v1.1/%2e%2e/admin/chat.json?page=2",
    "/v1.1/messages/%2E%2E/%2e%2e/admin?page=2",
], ids=["other-port", "other-host", "other-scheme", "outside-prefix", "sibling-prefix",
        "dot-segments", "encoded-dot-segments", "relative-encoded-dots"])
async def test_a_next_link_off_the_upstream_is_a_502_and_not_followed(gateway, emulators, link):
    storeden_port = emulators.base_urls["storeden"].split(":")[2].split("/")[0]
    other = emulators.base_urls["smartsender"].split(":")[2].split("/")[0]
    before = {name: len(recorded(emulators, name)) for name in emulators.apps}

    response = await storeden_page_linking(gateway, emulators,
                                           link.format(port=storeden_port, other_port=other))
    assert response.status == 502
    assert response.content_type == "application/problem+json"
    assert (await response.json())["type"] == "/problems/upstream-rejected"
    grown = {name: len(recorded(emulators, name)) - n for name, n in before.items()}
    assert grown == {**{name: 0 for name in before}, "storeden": 1}


async def test_a_relative_next_link_is_followed_on_the_upstream(gateway, emulators):
    response = await storeden_page_linking(gateway, emulators,
                                           "/v1.1/messages/chat.json?with_id=49077&page=2")
    assert response.status == 200
    data = (await response.json())["data"]
    assert data[0]["id"] == "a1" and len(data) == 20  # page 2 came from the emulator
    assert dict(recorded(emulators, "storeden")[-1].query) == {"with_id": "49077", "page": "2"}


async def test_a_relative_link_off_the_prefix_is_refused(gateway, emulators):
    response = await storeden_page_linking(gateway, emulators, "/admin/export.json")
    assert response.status == 502
    assert "outside its configured base URL" in (await response.json())["detail"]


@pytest.mark.parametrize("upstream,chat", [
    ("storeden", "49077"), ("smartsender", "7001"), ("hapihub", "room-002"),
    ("spurtcommerce", "1"),
])
async def test_an_after_id_not_in_the_chat_is_404_not_the_whole_history(gateway, emulators,
                                                                         upstream, chat):
    response = await gateway.get(f"/v1/{upstream}/chats/{chat}/messages?after=999999&limit=100",
                                 headers=AUTH)
    assert response.status == 404, await response.text()
    assert "999999" in (await response.json())["detail"]


async def storeden_page_linking(gateway, emulators, link: str):
    """GET a Storeden chat whose first upstream page holds one message and links `link`."""
    emulators.apps["storeden"][FAULTS].add(
        "status", path="/messages/chat.json", status=200,
        body=(b'{"messages": [{"message_id": "a1", "from_id": 1, "from_myself": false, '
              b'"message": "hi", "send_date": "2024-01-01T10:00:00+0100", '
              b'"read_by": {"myself_id": "", "with_id": ""}}], "next_page": "'
              + link.encode() + b'"}'))
    return await gateway.get("/v1/storeden/chats/49077/messages?limit=20", headers=AUTH)


async def test_calls_per_request_metric_counts_upstream_pages(gateway, emulators, registry):
    store(emulators, "smartsender").seed_messages("7001", 130)
    await gateway.get("/v1/smartsender/chats/7001/messages?limit=100", headers=AUTH)
    labels = {"upstream": "smartsender", "operation": "list_messages"}
    assert registry.get_sample_value("chat_gateway_upstream_calls_per_request_sum", labels) == 5
    assert registry.get_sample_value("chat_gateway_upstream_calls_per_request_count", labels) == 1


# --- the shared walk() on a fake PageSource ----------------------------------------


class FakeSource:
    """Upstream pages held in memory. Page-number queries index `pages`; URL pages are
    named by `links`; offset queries slice `pages[0]`."""

    def __init__(self, pages: list[list[str]], links: dict[str | None, str | None] | None = None,
                 total: int | None = None) -> None:
        self.pages, self.links, self.total = pages, links or {}, total
        self.fetched: list[tuple[dict[str, str] | None, str | None]] = []

    async def fetch(self, extra: Extra | None = None, url: str | None = None) -> Answer:
        query = extra.query if extra else None
        self.fetched.append((query, url))
        if query and "skip" in query:
            start, size = int(query["skip"]), int(query["take"])
            return Answer({"rows": self.pages[0][start:start + size]})
        if query and "page" in query:
            number = int(query["page"]) - 1
            rows = self.pages[number] if number < len(self.pages) else []
            return Answer({"rows": rows, "pages": self.total or len(self.pages)})
        index = 0 if url is None else int(url.rsplit("=", 1)[1])
        return Answer({"rows": self.pages[index], "next": self.links.get(url)})

    def items(self, body: Any) -> list[dict[str, Any]]:
        return [{"id": i} for i in body["rows"]]

    def search(self, expression: Any, body: Any) -> Any:
        return expression.search(body)


PAGE_NUMBER = {"type": "page_number", "page_size": 3, "total_pages": "pages"}
NEXT_URL = {"type": "next_url", "next": "next"}
OFFSET = {"type": "offset", "offset_param": "skip", "limit_param": "take", "max_page_size": 4}


async def walk_fake(spec: dict[str, Any], source: FakeSource, limit: int,
                    max_pages: int = 50, sliced: bool = False) -> tuple[list[list[str]], int]:
    """`sliced`: no predicates, so walk() serves pages as slices instead of item by item."""
    paginator, position, pages, calls = build_paginator(spec), None, [], 0
    keep, stop = (None, None) if sliced else (lambda i: True, lambda i: False)
    while True:
        result = await walk(paginator, source, position, limit=limit, keep=keep,
                            stop=stop, max_pages=max_pages)
        pages.append([i["id"] for i in result.items])
        calls += result.upstream_pages
        position = result.next_position
        if position is None:
            return pages, calls
        assert len(pages) < 100


@pytest.mark.parametrize("spec,source,limit,pages", [
    (PAGE_NUMBER, lambda: FakeSource([["a", "b", "c"], [], ["d"]]), 2,
     [["a", "b"], ["c", "d"]]),
    (NEXT_URL, lambda: FakeSource([["a", "b"], [], ["c"]], {None: "u?p=1", "u?p=1": "u?p=2"}), 2,
     [["a", "b"], ["c"]]),
    (NEXT_URL, lambda: FakeSource([[], [], []], {None: "u?p=1", "u?p=1": "u?p=2"}), 5, [[]]),
    (OFFSET, lambda: FakeSource([list("abcdefghij")]), 4, [list("abcd"), list("efgh"), ["i", "j"]]),
    (OFFSET, lambda: FakeSource([list("abcdefgh")]), 4, [list("abcd"), list("efgh"), []]),
], ids=["page-number-empty-middle-page", "next-url-empty-middle-page", "next-url-all-empty",
        "offset-uneven", "offset-limit-equals-max-page-size"])
async def test_walk_on_a_fake_source(spec, source, limit, pages):
    assert (await walk_fake(spec, source(), limit))[0] == pages
    assert (await walk_fake(spec, source(), limit, sliced=True))[0] == pages


@settings(max_examples=150, deadline=None)
@given(sizes=st.lists(st.integers(0, 5), min_size=1, max_size=6), limit=st.integers(1, 7),
       max_pages=st.integers(1, 4))
async def test_a_sliced_walk_serves_what_the_item_by_item_walk_serves(sizes, limit, max_pages):
    """walk() without predicates takes pages as slices: the same pages, calls and
    cursors as the item-by-item loop with predicates that keep all and never stop."""
    names = iter(f"i{n}" for n in range(100))
    rows = [[next(names) for _ in range(size)] for size in sizes]
    links = {None if i == 0 else f"u?p={i}": f"u?p={i + 1}" for i in range(len(rows) - 1)}
    slow = await walk_fake(NEXT_URL, FakeSource(rows, links), limit, max_pages)
    fast = await walk_fake(NEXT_URL, FakeSource(rows, links), limit, max_pages, sliced=True)
    assert fast == slow


async def test_a_next_link_that_loops_is_an_error_not_a_duplicate():
    source = FakeSource([["a"], ["b"]], {None: "u?p=1", "u?p=1": "u?p=1"})
    with pytest.raises(MappingError, match="next-page link"):
        await walk_fake(NEXT_URL, source, 10)


async def test_max_pages_bounds_one_request_and_the_cursor_resumes_exactly():
    source = FakeSource([["a"], ["b"], ["c"], ["d"]], total=4)
    pages, calls = await walk_fake({**PAGE_NUMBER, "page_size": 1}, source, 10, max_pages=2)
    assert pages == [["a", "b"], ["c", "d"]] and calls == 4


async def test_a_reversed_page_resumes_by_its_position_when_the_last_item_is_gone():
    """`link_header` with `reverse`: the position alone (`k`, the items left from the
    page's start) resumes exactly, as when the last item served was deleted."""
    from multidict import CIMultiDict

    class OnePage(FakeSource):
        async def fetch(self, extra: Extra | None = None, url: str | None = None) -> Answer:
            self.fetched.append((extra.query if extra else None, url))
            return Answer({"rows": self.pages[0]}, CIMultiDict())

    paginator = build_paginator({"type": "link_header", "page_size": 10, "reverse": True})
    source = OnePage([list("abcd")])
    first = await walk(paginator, source, None, limit=2, keep=lambda i: True,
                       stop=lambda i: False, max_pages=5)
    assert [i["id"] for i in first.items] == ["d", "c"] and len(source.fetched) == 1
    position = {k: v for k, v in first.next_position.items() if k != "l"}
    rest = await walk(paginator, source, position, limit=5, keep=lambda i: True,
                      stop=lambda i: False, max_pages=5)
    assert [i["id"] for i in rest.items] == ["b", "a"] and rest.next_position is None


async def test_walk_closes_the_pages_it_did_not_read_to_the_end():
    """A walk that stops early closes the paginator's generator itself, before it
    returns: left to the event loop's finalizer hook, each request would cost a task and
    a self-pipe write."""
    closed: list[bool] = []

    class Pages:
        page_size = 2

        async def pages(self, source, position, remaining):
            try:
                for n in range(5):
                    yield Page([{"id": f"{n}a"}, {"id": f"{n}b"}], 0, lambda i: {"i": i}, True)
            finally:
                closed.append(True)

    result = await walk(Pages(), FakeSource([]), None, limit=3, keep=None, stop=None,
                        max_pages=50)
    assert [item["id"] for item in result.items] == ["0a", "0b", "1a"]
    assert closed == [True]  # already, with no turn of the event loop in between
