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
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from .errors import MappingError
from .mapping.expressions import Expression

__all__ = ["Page", "PageSource", "Paginator", "PAGINATORS", "build_paginator", "walk", "Walk"]

Position = dict[str, Any]
_RESYNC_WINDOW = 20  # resuming an offset walk, items asked for at least (not calls)


class PageSource(Protocol):
    """What a paginator may ask of the operation: one upstream call, and its items."""

    async def fetch(self, query: dict[str, str] | None = None, url: str | None = None) -> Any: ...

    def items(self, body: Any) -> list[dict[str, Any]]: ...


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
    """The upstream answers everything at once (in no guaranteed order)."""

    page_size = None

    def __init__(self, spec: dict[str, Any]) -> None:
        order = spec.get("order")
        self._keys = [(k["field"], k.get("as", "string")) for k in order["by"]] if order else []
        self._reverse = bool(order) and order.get("direction", "asc") == "desc"

    async def pages(self, source: PageSource, position: Position | None,
                    remaining: Callable[[], int]) -> AsyncIterator[Page]:
        items = source.items(await source.fetch())
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
    def __init__(self, spec: dict[str, Any]) -> None:
        self.page_size = spec["page_size"]
        self._page_param = spec.get("page_param", "page")
        self._size_param = spec.get("size_param", "limit")
        self._first = spec.get("first_page", 1)
        self._total = Expression(spec["total_pages"]) if "total_pages" in spec else None

    async def pages(self, source: PageSource, position: Position | None,
                    remaining: Callable[[], int]) -> AsyncIterator[Page]:
        offset = position.get("o", 0) if position else 0
        number, start = divmod(offset, self.page_size)
        while True:
            body = await source.fetch({self._page_param: str(number + self._first),
                                       self._size_param: str(self.page_size)})
            items = source.items(body)
            base = number * self.page_size
            if self._total is not None:
                total = self._total.search(body)
                has_next = isinstance(total, (int, float, str)) and \
                    number + self._first < int(float(total))
            else:
                has_next = len(items) >= self.page_size
            yield Page(items, start, lambda i, base=base: {"o": base + i}, has_next)
            number, start = number + 1, 0


class NextUrlPaging:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.page_size = spec.get("page_size")
        self._next = Expression(spec["next"])

    async def pages(self, source: PageSource, position: Position | None,
                    remaining: Callable[[], int]) -> AsyncIterator[Page]:
        url = position.get("u") if position else None
        start = position.get("s", 0) if position else 0
        seen = {url}
        while True:
            body = await source.fetch(url=url)
            items = source.items(body)
            next_url = self._next.search(body) or None
            if next_url is not None and not isinstance(next_url, str):
                raise MappingError("the next-page link is not a URL", stage="map")
            if next_url is not None and next_url in seen:  # a loop would serve items twice
                raise MappingError(f"the next-page link {next_url} repeats an earlier page",
                                   stage="map")
            seen.add(next_url)
            yield Page(items, start, self._resumer(url, next_url, len(items)), next_url is not None)
            url, start = next_url, 0

    @staticmethod
    def _resumer(url: str | None, next_url: str | None, size: int) -> Callable[[int], Position]:
        return lambda i: {"u": next_url, "s": 0} if i >= size else {"u": url, "s": i}


class OffsetPaging:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.page_size = spec.get("max_page_size", 100)
        self._offset_param = spec.get("offset_param", "offset")
        self._limit_param = spec.get("limit_param", "limit")

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
            body = await source.fetch({self._offset_param: str(offset - back),
                                       self._limit_param: str(size)})
            items = source.items(body)
            base = offset - back
            yield Page(items, back, lambda i, base=base: {"o": base + i}, len(items) >= size)
            offset, back, window = base + len(items), 0, 0


PAGINATORS: dict[str, Callable[[dict[str, Any]], Paginator]] = {
    "none": NoPaging,
    "page_number": PageNumberPaging,
    "next_url": NextUrlPaging,
    "offset": OffsetPaging,
}


def build_paginator(spec: dict[str, Any]) -> Paginator:
    return PAGINATORS[spec["type"]](spec)
