"""Token-cursor and RFC 8288 Link-header paging, walked exactly, over real HTTP.

A small test upstream (an aiohttp app on loopback, not a vendor) serves one history in
four shapes: a token in the body sent back as a query parameter, the same sent in a POST
body, a token in a response header sent back as a header, and `Link: rel="next"`
pages. Its pages are short (half size) every third page while more exist, as token APIs
allow. Mappings and routes are written to a temporary directory, so the language is
tested through the loader like any vendor's YAML.
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from gateway.exchange import Answer
from gateway.errors import MappingError
from gateway.paginators import build_paginator, parse_link_header, walk
from gateway.server import create_app
from tests.conftest import API_KEY, AUTH, SECRET
from tests.test_pagination import LIMITS, PROPERTY, walk_cursors
from tests.test_pagination import Live as EmulatorsLive

PAGE = 10  # the test upstream's page size, as the mappings ask

MESSAGE_FIELDS = """
      items: messages
      fields: {id: id, chat_id: "ctx('chat_id')", text: text, type: {const: text}}
"""

MAPPINGS = {
    "token_query": f"""
auth: {{type: none}}
errors: {{failure: "ok == `false` && ctx('chat_id') != 'C1'", detail: error}}
operations:
  list_messages:
    request: {{method: GET, path: /history, query: {{channel: "{{chat_id}}"}}}}
    response:{MESSAGE_FIELDS}
    pagination:
      type: cursor
      token: meta.next_cursor
      has_more: "has_more && ctx('chat_id') == 'C1'"   # ctx() reaches paging expressions
      param: cursor
      page_size: {PAGE}
      size_param: limit
""",
    "token_body": f"""
auth: {{type: none}}
operations:
  list_messages:
    request:
      method: POST
      path: /history.list
      body: {{fields: {{channel: "{{chat_id}}"}}}}
    response:{MESSAGE_FIELDS}
    pagination:
      type: cursor
      token: meta.next_cursor
      param: {{name: cursor, in: body}}
      page_size: {PAGE}
      size_param: {{name: limit, in: body}}
""",
    "token_header": f"""
auth: {{type: none}}
operations:
  list_messages:
    request: {{method: GET, path: /history, query: {{channel: "{{chat_id}}"}}}}
    response:{MESSAGE_FIELDS}
    pagination:
      type: cursor
      token_header: X-Next-Cursor
      param: {{name: X-Cursor, in: header}}
      page_size: {PAGE}
      size_param: limit
""",
    "links": f"""
auth: {{type: none}}
operations:
  list_messages:
    request: {{method: GET, path: "/channels/{{chat_id}}/issues"}}
    response:{MESSAGE_FIELDS}
    pagination: {{type: link_header, page_size: {PAGE}, size_param: per_page}}
""",
}


def write_config(directory: Path, base_url: str) -> Path:
    (directory / "mappings").mkdir(exist_ok=True)
    upstreams, routes = [], []
    for name, text in MAPPINGS.items():
        (directory / "mappings" / f"{name}.yaml").write_text(text)
        upstreams.append(f"  {name}: {{base_url: '{base_url}/api', mapping: mappings/{name}.yaml}}")
        routes.append(f"  - {{name: {name.replace('_', '-')}, upstream: {name}}}")
    (directory / "routes.yaml").write_text(
        f"cursor: {{secrets: ['{SECRET}']}}\n"
        f"consumers: [{{name: t, keys: ['{API_KEY}']}}]\n"
        "upstreams:\n" + "\n".join(upstreams) + "\nroutes:\n" + "\n".join(routes) + "\n")
    return directory / "routes.yaml"


# --- the test upstream --------------------------------------------------------------


class History:
    """One channel's messages, newest first, served in pages of `limit` with every third
    page half as long. Tokens are opaque and need URL-encoding (`+`, `/`, `=`)."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.requests: list[web.Request] = []
        self.bodies: list[Any] = []

    def seed(self, size: int) -> list[str]:
        self.ids = [f"m{n:04d}" for n in range(size, 0, -1)]
        self.requests.clear()
        self.bodies.clear()
        return list(self.ids)

    def page(self, offset: int, limit: int) -> tuple[list[dict[str, Any]], int | None]:
        size = limit if (offset // max(limit, 1)) % 3 != 1 else max(1, limit // 2)
        rows = self.ids[offset:offset + size]
        after = offset + len(rows)
        return ([{"id": i, "text": f"text {i}"} for i in rows],
                after if after < len(self.ids) else None)


def token_of(offset: int | None) -> str:
    return "" if offset is None else base64.b64encode(f"o>{offset}?".encode()).decode() + "+/="


def offset_of(token: str | None) -> int:
    if not token:
        return 0
    return int(base64.b64decode(token[:-3]).decode()[2:-1])


def upstream_app(history: History) -> web.Application:
    async def listing(request: web.Request) -> web.Response:
        history.requests.append(request)
        body = await request.json() if request.method == "POST" else {}
        history.bodies.append(body)
        params = {**request.query, **body}
        if params.get("channel") != "C1":
            return web.json_response({"ok": False, "error": "channel_not_found"})
        token = params.get("cursor") or request.headers.get("X-Cursor")
        rows, after = history.page(offset_of(token), int(params.get("limit", 100)))
        headers = {"X-Next-Cursor": token_of(after)} if after is not None else {}
        return web.json_response({"ok": True, "messages": rows, "has_more": after is not None,
                                  "meta": {"next_cursor": token_of(after)}}, headers=headers)

    async def issues(request: web.Request) -> web.Response:
        history.requests.append(request)
        since, size = int(request.query.get("since", 0)), int(request.query["per_page"])
        rows, after = history.page(since, size)
        links = [f'<?since=0&per_page={size}>; rel="first"']
        if after is not None:  # relative and absolute links alternate
            target = f"{request.path}?per_page={size}&since={after}"
            if len(history.requests) % 2:
                target = f"{request.scheme}://{request.host}{target}"
            links.append(f'<{target}>; rel="next"')
        links.append(f'<{request.path}?page=9999>; rel="last"')
        return web.json_response({"messages": rows}, headers={"Link": ", ".join(links)})

    app = web.Application()
    app.router.add_get("/api/history", listing)
    app.router.add_post("/api/history.list", listing)
    app.router.add_get("/api/channels/C1/issues", issues)
    return app


class Live(EmulatorsLive):
    """The test upstream and the gateway, on a private loop sync Hypothesis tests drive."""

    def __init__(self, directory: Path) -> None:
        self.history, self._directory = History(), directory
        super().__init__()

    async def _start(self) -> None:
        self._upstream = web.AppRunner(upstream_app(self.history))
        await self._upstream.setup()
        await web.TCPSite(self._upstream, "127.0.0.1", 0).start()
        base = f"http://127.0.0.1:{self._upstream.addresses[0][1]}"
        await self._serve(write_config(self._directory, base), {})

    async def _stop(self) -> None:
        await self._upstream.cleanup()


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    running = Live(tmp_path_factory.mktemp("paging"))
    yield running
    running.close()


ROUTES = ["token-query", "token-body", "token-header", "links"]


def max_calls(limit: int) -> int:
    """Pages are at least half a page long, and a walk may read one page ahead."""
    return math.ceil(limit / (PAGE // 2)) + 1


@pytest.mark.parametrize("route", ROUTES)
@PROPERTY
@given(size=st.integers(0, 70), limits=LIMITS)
def test_walks_return_every_item_once_in_order(live, route, size, limits):
    expected = live.history.seed(size)
    walked = live.run(walk_cursors(live.get, lambda: len(live.history.requests),
                                   f"/v1/{route}/chats/C1/messages", limits))
    assert walked.ids == expected
    for limit, calls in zip(walked.limits, walked.calls, strict=True):
        assert 1 <= calls <= max_calls(limit), (limit, walked.calls)
    for limit, page in zip(walked.limits[:-1], walked.pages[:-1], strict=True):
        assert len(page) == limit  # short upstream pages never make a short canonical one


def test_the_token_goes_back_where_the_mapping_says_with_the_other_arguments(live):
    live.history.seed(25)
    for route in ROUTES[:3]:
        live.history.requests.clear()
        live.history.bodies.clear()
        status, body = live.run(live.get(f"/v1/{route}/chats/C1/messages", {"limit": "25"}))
        assert status == 200 and len(body["data"]) == 25
        requests, bodies = live.history.requests, live.history.bodies
        sent = [{**r.query, **b, **({"X-Cursor": r.headers["X-Cursor"]}
                                    if "X-Cursor" in r.headers else {})}
                for r, b in zip(requests, bodies, strict=True)]
        place = {"token-query": "cursor", "token-body": "cursor", "token-header": "X-Cursor"}[route]
        assert [s.get(place) for s in sent] == [None, token_of(10), token_of(15), token_of(20)], route
        assert all(s["channel"] == "C1" and str(s["limit"]) == "10" for s in sent), route
        if route == "token-body":
            assert [b.get("limit") for b in bodies] == [10, 10, 10, 10]  # a number in JSON


def test_ctx_reaches_the_failure_rule(live):
    status, body = live.run(live.get("/v1/token-query/chats/C2/messages", {}))
    assert status == 502 and "channel_not_found" in body["detail"], body


def test_has_more_false_ends_the_walk_even_with_a_token():
    class Source:
        async def fetch(self, extra=None, url=None):
            return Answer({"rows": ["a"], "more": False, "next": "t2"})

        def items(self, body):
            return [{"id": i} for i in body["rows"]]

        def search(self, expression, body):
            return expression.search(body)

    spec = {"type": "cursor", "token": "next", "has_more": "more"}
    result = asyncio.run(walk(build_paginator(spec), Source(), None, limit=5,
                              keep=lambda i: True, stop=lambda i: False, max_pages=5))
    assert [i["id"] for i in result.items] == ["a"] and result.next_position is None


def test_a_repeated_token_is_an_error_not_a_duplicate():
    class Source:
        async def fetch(self, extra=None, url=None):
            return Answer({"rows": ["a"], "next": "same"})

        def items(self, body):
            return [{"id": i} for i in body["rows"]]

        def search(self, expression, body):
            return expression.search(body)

    with pytest.raises(MappingError, match="token repeats"):
        asyncio.run(walk(build_paginator({"type": "cursor", "token": "next"}), Source(), None,
                         limit=5, keep=lambda i: True, stop=lambda i: False, max_pages=5))


@pytest.mark.parametrize("header,links", [
    ('<https://a.example/i?page=2>; rel="next"', {"next": "https://a.example/i?page=2"}),
    ('<https://a/x?a=1,2>; rel="next", <https://a/x?page=9>; rel=last',
     {"next": "https://a/x?a=1,2", "last": "https://a/x?page=9"}),
    ('<u1>; title="a, b; c"; rel="prev next"', {"prev": "u1", "next": "u1"}),
    ('<u1>;rel=NEXT', {"next": "u1"}),
    ('<u1>; rel="next", <u2>; rel="next"', {"next": "u1"}),
    ('<u1>; anchor="x"', {}),
    ("", {}),
], ids=["plain", "comma-in-url-unquoted-rel", "quoted-comma-two-rels", "case", "first-wins",
        "no-rel", "empty"])
def test_parse_link_header(header, links):
    assert parse_link_header(header) == links


async def test_a_link_header_off_the_upstream_is_a_502_and_not_followed(aiohttp_client, tmp_path):
    requests: list[str] = []

    async def issues(request: web.Request) -> web.Response:
        requests.append(request.path_qs)
        return web.json_response({"messages": [{"id": "1", "text": "x"}]}, headers={
            "Link": '<http://203.0.113.9/api/channels/C1/issues?page=2>; rel="next"'})

    app = web.Application()
    app.router.add_get("/api/channels/C1/issues", issues)
    upstream = await aiohttp_client(app)
    gateway = await aiohttp_client(create_app(
        write_config(tmp_path, str(upstream.make_url("")).rstrip("/")), {},
        registry=CollectorRegistry()))
    response = await gateway.get("/v1/links/chats/C1/messages?limit=5", headers=AUTH)
    assert response.status == 502, await response.text()
    assert "outside its configured base URL" in (await response.json())["detail"]
    assert requests == ["/api/channels/C1/issues?per_page=10"]


def test_the_upstream_tokens_need_url_encoding():
    assert any(c in token_of(10) for c in "+/=")
    assert json.dumps(token_of(None)) == '""'


@pytest.mark.parametrize("route", ROUTES)
def test_a_canonical_page_ending_on_an_upstream_page_end_resumes_on_the_next(live, route):
    """Upstream pages of 10, 5, 5, 10: limit 10 ends exactly on the first page's end, so
    the cursor names the next page (no re-reading of the first): 20 more take 3 calls."""
    expected = live.history.seed(30)
    walked = live.run(walk_cursors(live.get, lambda: len(live.history.requests),
                                   f"/v1/{route}/chats/C1/messages", [10, 20]))
    assert walked.ids == expected
    assert walked.calls == [1, 3] and [len(p) for p in walked.pages] == [10, 20]
