"""Exact pagination over any upstream paging style.

A canonical page of `limit` items may span several upstream pages, or part of one.
Each style (`type:` in a mapping) is a small class whose `pages()` yields upstream
pages as `Page`s; `walk()` — the one loop all styles share — takes items from them until
`limit` are kept, and records the exact resume point in a *position* (a small dict the
cursor signs): where the upstream page is (page offset, URL, skip, ...), how far into it
we got, and the id of the last item consumed. On resume, that id is looked for in the
page first — and, when it should be on that page but is not, on the next page before
anything is served — so items added upstream while a client walks shift nothing: no
duplicates, no gaps, for up to about one upstream page of new items between two requests.

    none         everything at once (optionally sorted by canonical fields)
    page_number  ?page=N&size=P, P fixed at the upstream's maximum; total pages or a
                 full page tells whether more exist
    next_url     the answer links the next page (absolute URL, followed only on the
                 upstream's own origin and prefix — checked by the fetcher)
    offset       ?skip=O&limit=N, asks for one item more than it needs to know whether
                 more exist (and, resuming, re-reads the last item served to see shifts)
    cursor       a token read from the answer (body or header) is sent back, with the
                 request's own other arguments, for the next page; no token (or a
                 `has_more` that is false) ends; pages may be short while more exist
    link_header  RFC 8288 `Link: <…>; rel="next"` (same origin and prefix rules as next_url)

Each style names its `type:` (`TYPE`), its keys (`SCHEMA`, a JSON Schema fragment) and
its docs (the class docstring) itself; `PAGINATORS` is built from the classes.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from yarl import URL

from .errors import MappingError
from .exchange import Answer, Extra, RequestOption
from .mapping.expressions import Expression
from .mapping.functions import truthy

__all__ = ["Page", "PageSource", "Paginator", "PAGINATORS", "build_paginator", "walk", "Walk",
           "parse_link_header"]

Position = dict[str, Any]
_TEXT = {"type": "string", "minLength": 1}
_JMESPATH = {"type": "string", "minLength": 1, "format": "jmespath",
             "description": "JMESPath over the answer"}
_SIZE = {"type": "integer", "minimum": 1, "maximum": 1000}


def _option(description: str) -> dict[str, Any]:
    return {**RequestOption.SCHEMA, "description": description}

_RESYNC_WINDOW = 20  # resuming an offset walk, items asked for at least (not calls)


class PageSource(Protocol):
    """What a paginator may ask of the operation: one upstream call, and its items."""

    async def fetch(self, extra: Extra | None = None, url: str | None = None) -> Answer: ...

    def items(self, body: Any) -> list[dict[str, Any]]: ...

    def search(self, expression: Expression, body: Any) -> Any:
        """Evaluate a paging expression over an answer, with the call's `ctx()`."""


@dataclass
class Page:
    items: list[dict[str, Any]]
    start: int  # index of the first item this walk has not seen
    resume: Callable[[int], Position]  # position resuming at items[i]
    has_next: bool


class Paginator(Protocol):
    page_size: int | None

    def pages(self, source: PageSource, position: Position | None,
              remaining: Callable[[], int]) -> AsyncIterator[Page]: ...


@dataclass
class Walk:
    items: list[dict[str, Any]]
    next_position: Position | None
    upstream_pages: int
    stopped: bool = False  # ended at an item `stop` accepted (not at the list's end)


async def walk(paginator: Paginator, source: PageSource, position: Position | None, *,
               limit: int, keep: Callable[[dict[str, Any]], bool],
               stop: Callable[[dict[str, Any]], bool], max_pages: int) -> Walk:
    """Take up to `limit` kept items, stopping for good at an item `stop` accepts."""
    out: list[dict[str, Any]] = []
    pages = 0
    last_id = position.get("l") if position else None
    held: Page | None = None  # a first page the last item served was pushed off
    async for page in paginator.pages(source, position, lambda: limit - len(out)):
        pages += 1
        if pages == 1 and max_pages > 1 and _pushed_off(page, last_id):
            held = page  # look on the next page before serving anything
            continue
        todo = _starts(page, held, last_id) if pages == 1 or held else [(page, page.start)]
        held = None
        for current, start in todo:
            for index in range(start, len(current.items)):
                item = current.items[index]
                if stop(item):
                    return Walk(out, None, pages, stopped=True)
                if len(out) == limit:
                    return Walk(out, _resume(current, index), pages)
                if keep(item):
                    out.append(item)
            if not current.has_next:
                return Walk(out, None, pages)
            if len(out) == limit or pages >= max_pages:
                # Stop at the page boundary; the cursor resumes on the next upstream page.
                return Walk(out, _resume(current, len(current.items)), pages)
    return Walk(out, None, pages)


def _pushed_off(page: Page, last_id: str | None) -> bool:
    """The last item served should be just before `start` but is not on the page: newer
    items have pushed it onto the next one (or it is gone, which the next page tells)."""
    return (last_id is not None and page.start > 0 and page.has_next
            and _index_after(page, last_id) is None)


def _starts(page: Page, held: Page | None, last_id: str | None) -> list[tuple[Page, int]]:
    """Where a resumed walk serves from: just after the last item served if `page` has
    it; else from the cursor's own point (on the held page first, if any)."""
    after = _index_after(page, last_id)
    if after is not None:
        return [(page, after)]
    return [(held, held.start), (page, page.start)] if held else [(page, page.start)]


def _index_after(page: Page, last_id: str | None) -> int | None:
    if last_id is not None:
        for index, item in enumerate(page.items):
            if item["id"] == last_id:
                return index + 1
    return None


def _resume(page: Page, index: int) -> Position:
    """The position resuming at page.items[index], naming the last item served."""
    position = page.resume(index)
    if index > 0:
        position["l"] = page.items[index - 1]["id"]
    return position


class NoPaging:
    """The upstream answers everything at once (in no guaranteed order); `order` sorts
    by canonical fields."""

    TYPE = "none"
    REQUIRED: tuple[str, ...] = ()
    KEYS: dict[str, Any] = {"order": {
        "type": "object", "additionalProperties": False, "required": ["by"],
        "description": "sort the whole list by canonical fields",
        "properties": {
            "by": {"type": "array", "minItems": 1, "items": {
                "type": "object", "additionalProperties": False, "required": ["field"],
                "properties": {"field": {**_TEXT, "description": "a canonical field"},
                               "as": {"enum": ["string", "number", "datetime"]}}}},
            "direction": {"enum": ["asc", "desc"]}}}}
    page_size = None

    def __init__(self, spec: dict[str, Any]) -> None:
        order = spec.get("order")
        self._keys = [(k["field"], k.get("as", "string")) for k in order["by"]] if order else []
        self._reverse = bool(order) and order.get("direction", "asc") == "desc"

    async def pages(self, source: PageSource, position: Position | None,
                    remaining: Callable[[], int]) -> AsyncIterator[Page]:
        items = source.items((await source.fetch()).body)
        if self._keys:
            items.sort(key=self._sort_key, reverse=self._reverse)
        start = position.get("s", 0) if position else 0
        yield Page(items, start, lambda i: {"s": i}, has_next=False)

    def _sort_key(self, item: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(_sortable(item.get(field), kind) for field, kind in self._keys)


def _sortable(value: Any, kind: str) -> tuple[int, Any]:
    if value is None:
        return (0, 0)  # nulls sort first ascending, last descending
    try:
        if kind == "number":
            return (1, float(value))
        if kind == "datetime":
            return (1, datetime.fromisoformat(value).timestamp())
    except (TypeError, ValueError):
        raise MappingError(f"cannot order by {value!r} as {kind}", stage="map") from None
    return (1, str(value))


class PageNumberPaging:
    """`?page=N&size=P`, P fixed at the upstream's maximum; `total_pages` (else a short
    page) tells whether more exist."""

    TYPE = "page_number"
    KEYS: dict[str, Any] = {
        "page_param": _option("where the page number goes (default page)"),
        "size_param": _option("where the page size goes (default limit)"),
        "page_size": {**_SIZE, "description": "the upstream's maximum, always asked"},
        "first_page": {"type": "integer", "minimum": 0, "description": "default 1"},
        "total_pages": {**_JMESPATH, "description": "JMESPath to the number of pages"},
    }
    REQUIRED = ("page_size",)

    def __init__(self, spec: dict[str, Any]) -> None:
        self.page_size = spec["page_size"]
        self._page = RequestOption.from_spec(spec.get("page_param", "page"))
        self._size = RequestOption.from_spec(spec.get("size_param", "limit"))
        self._first = spec.get("first_page", 1)
        self._total = Expression(spec["total_pages"]) if "total_pages" in spec else None

    async def pages(self, source: PageSource, position: Position | None,
                    remaining: Callable[[], int]) -> AsyncIterator[Page]:
        offset = position.get("o", 0) if position else 0
        number, start = divmod(offset, self.page_size)
        while True:
            body = (await source.fetch(Extra.of((self._page, number + self._first),
                                                (self._size, self.page_size)))).body
            items = source.items(body)
            base = number * self.page_size
            if self._total is not None:
                total = source.search(self._total, body)
                has_next = isinstance(total, (int, float, str)) and \
                    number + self._first < int(float(total))
            else:
                has_next = len(items) >= self.page_size
            yield Page(items, start, lambda i, base=base: {"o": base + i}, has_next)
            number, start = number + 1, 0


class _ChainedPaging:
    """Each answer names the next page — a URL or a token — which the position holds
    (`key`) with the items of the page already served (`s`)."""

    REQUIRED: tuple[str, ...] = ()
    key = ""
    page_size: int | None

    async def _fetch(self, source: PageSource, here: str | None) -> Answer:
        raise NotImplementedError

    def _following(self, source: PageSource, answer: Answer) -> str | None:
        raise NotImplementedError

    def _repeats(self, following: str) -> str:
        raise NotImplementedError

    async def pages(self, source: PageSource, position: Position | None,
                    remaining: Callable[[], int]) -> AsyncIterator[Page]:
        here = position.get(self.key) if position else None
        start = position.get("s", 0) if position else 0
        seen = {here}
        while True:
            answer = await self._fetch(source, here)
            items = source.items(answer.body)
            following = self._following(source, answer)
            if following is not None and following in seen:  # a loop would serve items twice
                raise MappingError(self._repeats(following), stage="map")
            seen.add(following)
            yield Page(items, start, _resumer(self.key, here, following, len(items)),
                       following is not None)
            here, start = following, 0


class _LinkedPaging(_ChainedPaging):
    """Pages that name the next page's URL; a subclass says where the link is."""

    key = "u"
    KEYS: dict[str, Any] = {
        "page_size": {**_SIZE, "description": "asked on the first request"},
        "size_param": _option("where the page size goes on the first request"),
    }

    def __init__(self, spec: dict[str, Any]) -> None:
        self.page_size = spec.get("page_size")
        self._size = RequestOption.from_spec(spec.get("size_param"))

    def _next_link(self, source: PageSource, answer: Answer) -> Any:
        raise NotImplementedError

    async def _fetch(self, source: PageSource, here: str | None) -> Answer:
        # the page size goes on the first request; links carry it on
        return await source.fetch(
            Extra.of((self._size, self.page_size)) if here is None else None, url=here)

    def _following(self, source: PageSource, answer: Answer) -> str | None:
        link = self._next_link(source, answer) or None
        if link is not None and not isinstance(link, str):
            raise MappingError("the next-page link is not a URL", stage="map")
        return link

    def _repeats(self, following: str) -> str:
        return f"the next-page link {following} repeats an earlier page"


def _resumer(key: str, here: Any, following: Any, size: int) -> Callable[[int], Position]:
    """Positions on a page named by `here` (URL or token): past its end, the next one."""
    return lambda i: {key: following, "s": 0} if i >= size else {key: here, "s": i}


class NextUrlPaging(_LinkedPaging):
    """The answer body links the next page: `next` is a JMESPath to its URL (followed only
    on the upstream's own scheme, host, port and path prefix)."""

    TYPE = "next_url"
    KEYS = {**_LinkedPaging.KEYS, "next": {**_JMESPATH, "description": "JMESPath to the "
                                                                       "next page's URL"}}
    REQUIRED = ("next",)

    def __init__(self, spec: dict[str, Any]) -> None:
        super().__init__(spec)
        self._next = Expression(spec["next"])

    def _next_link(self, source: PageSource, answer: Answer) -> Any:
        return source.search(self._next, answer.body)


class LinkHeaderPaging(_LinkedPaging):
    """RFC 8288: the answer's `Link` header has the `rel="next"` URL (GitHub, Zendesk);
    relative links resolve against the request's URL; same origin rules as next_url."""

    TYPE = "link_header"

    def _next_link(self, source: PageSource, answer: Answer) -> Any:
        for value in answer.headers.getall("Link", []) if answer.headers is not None else []:
            link = parse_link_header(value).get("next")
            if link is not None:
                return str(answer.url.join(URL(link))) if answer.url is not None else link
        return None


_LINK = re.compile(r'''<([^>]*)>((?:\s*;\s*[^;,=\s]+(?:\s*=\s*(?:"[^"]*"|[^;,\s]*))?)*)''')
_PARAM = re.compile(r''';\s*([^;,=\s]+)(?:\s*=\s*("[^"]*"|[^;,\s]*))?''')


def parse_link_header(value: str) -> dict[str, str]:
    """`<url>; rel="next last", <url2>; rel=prev` → {"next": url, "last": url, "prev": url2}.
    Commas inside `<…>` and quoted values are part of them; the first link of a rel wins."""
    links: dict[str, str] = {}
    for match in _LINK.finditer(value):
        for name, raw in _PARAM.findall(match.group(2)):
            if name.lower() == "rel":
                for rel in raw.strip('"').lower().split():
                    links.setdefault(rel, match.group(1).strip())
    return links


class CursorPaging(_ChainedPaging):
    """A token read from the answer — `token` (JMESPath over the body) or
    `token_header` (a response header) — is sent back as `param` (query, header or body)
    with the request's own other arguments. An empty or absent token ends the walk, as
    does `has_more` (JMESPath) being false. Pages may be shorter than `page_size` while
    more exist (only the token decides)."""

    TYPE = "cursor"
    KEYS: dict[str, Any] = {
        "token": {**_JMESPATH, "description": "JMESPath to the next page's token"},
        "token_header": {**_TEXT, "description": "response header holding the token"},
        "param": _option("where the token goes (default: query parameter cursor)"),
        "page_size": {**_SIZE, "description": "asked on every request"},
        "size_param": _option("where the page size goes"),
        "has_more": {**_JMESPATH, "description": "JMESPath; false ends the walk"},
    }
    ONE_OF = ("token", "token_header")
    key = "t"

    def __init__(self, spec: dict[str, Any]) -> None:
        self.page_size = spec.get("page_size")
        self._size = RequestOption.from_spec(spec.get("size_param"))
        self._param = RequestOption.from_spec(spec.get("param", "cursor"))
        self._token = Expression(spec["token"]) if "token" in spec else None
        self._header = spec.get("token_header")
        if (self._token is None) == (self._header is None):
            raise KeyError("token or token_header (one of them)")
        self._has_more = Expression(spec["has_more"]) if "has_more" in spec else None

    def _following(self, source: PageSource, answer: Answer) -> str | None:
        if self._token is not None:
            token = source.search(self._token, answer.body)
        else:
            token = answer.headers.get(self._header) if answer.headers is not None else None
        if self._has_more is not None and not truthy(source.search(self._has_more, answer.body)):
            return None
        if isinstance(token, bool) or isinstance(token, (dict, list)):
            raise MappingError("the next-page token is not a string", stage="map")
        return None if token in (None, "") else str(token)

    async def _fetch(self, source: PageSource, here: str | None) -> Answer:
        return await source.fetch(Extra.of((self._size, self.page_size), (self._param, here)))

    def _repeats(self, following: str) -> str:
        return "the next-page token repeats an earlier page"


class OffsetPaging:
    """`?offset=O&limit=N`: asks for one item more than it needs to know whether more
    exist."""

    TYPE = "offset"
    KEYS: dict[str, Any] = {
        "offset_param": _option("where the offset goes (default offset)"),
        "limit_param": _option("where the count goes (default limit)"),
        "max_page_size": {**_SIZE, "description": "the most the upstream gives (default 100)"},
    }
    REQUIRED: tuple[str, ...] = ()

    def __init__(self, spec: dict[str, Any]) -> None:
        self.page_size = spec.get("max_page_size", 100)
        self._offset = RequestOption.from_spec(spec.get("offset_param", "offset"))
        self._limit = RequestOption.from_spec(spec.get("limit_param", "limit"))

    async def pages(self, source: PageSource, position: Position | None,
                    remaining: Callable[[], int]) -> AsyncIterator[Page]:
        offset = position.get("o", 0) if position else 0
        # Resuming, read the last item served again (found anywhere but first, newer
        # items have moved it: see `walk`) within a window wide enough to find it.
        back = int(bool(position and "l" in position) and offset > 0
                   and remaining() + 2 <= self.page_size)
        window = _RESYNC_WINDOW if back else 0
        while True:
            size = min(self.page_size, max(remaining() + 1, window) + back)
            body = (await source.fetch(Extra.of((self._offset, offset - back),
                                                (self._limit, size)))).body
            items = source.items(body)
            base = offset - back
            yield Page(items, back, lambda i, base=base: {"o": base + i}, len(items) >= size)
            offset, back, window = base + len(items), 0, 0


PAGINATORS: dict[str, Any] = {cls.TYPE: cls for cls in (
    NoPaging, PageNumberPaging, NextUrlPaging, OffsetPaging, CursorPaging, LinkHeaderPaging)}


def build_paginator(spec: dict[str, Any]) -> Paginator:
    return PAGINATORS[spec["type"]](spec)
