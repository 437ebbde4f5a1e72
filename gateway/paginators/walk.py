"""The loop every paging style shares (`walk()`), and what a style and its page source
must offer (`Paginator`, `PageSource`, `Page`). See the package docstring."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from ..exchange import Answer, Extra, RequestOption
from ..mapping.expressions import Expression

__all__ = ["Page", "PageSource", "Paginator", "Position", "Walk", "walk", "TEXT", "JMESPATH",
           "SIZE", "option"]

Position = dict[str, Any]
TEXT = {"type": "string", "minLength": 1}
JMESPATH = {"type": "string", "minLength": 1, "format": "jmespath",
             "description": "JMESPath over the answer"}
SIZE = {"type": "integer", "minimum": 1, "maximum": 1000}


def option(description: str) -> dict[str, Any]:
    return {**RequestOption.SCHEMA, "description": description}


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
              remaining: Callable[[], int]) -> AsyncGenerator[Page, None]: ...


@dataclass
class Walk:
    items: list[dict[str, Any]]
    next_position: Position | None
    upstream_pages: int
    stopped: bool = False  # ended at an item `stop` accepted (not at the list's end)


Predicate = Callable[[dict[str, Any]], bool]


async def walk(paginator: Paginator, source: PageSource, position: Position | None, *,
               limit: int, keep: Predicate | None, stop: Predicate | None,
               max_pages: int) -> Walk:
    """Take up to `limit` kept items, stopping for good at an item `stop` accepts.
    `keep=None` keeps every item and `stop=None` never stops: a page is then served as
    a slice, with no call per item."""
    out: list[dict[str, Any]] = []
    pages = 0
    last_id = position.get("l") if position else None
    held: Page | None = None  # a first page the last item served was pushed off
    pages_of = paginator.pages(source, position, lambda: limit - len(out))
    # Closed here when the walk ends early: left to the event loop, an unfinished async
    # generator is closed by its finalizer hook, a task and a self-pipe write per request.
    async with contextlib.aclosing(pages_of):
        async for page in pages_of:
            pages += 1
            if pages == 1 and max_pages > 1 and _pushed_off(page, last_id):
                held = page  # look on the next page before serving anything
                continue
            todo = _starts(page, held, last_id) if pages == 1 or held else [(page, page.start)]
            held = None
            for current, start in todo:
                if keep is None and stop is None:
                    end = start + limit - len(out)
                    out.extend(current.items[start:end])
                    if end < len(current.items):
                        return Walk(out, _resume(current, end), pages)
                else:
                    for index in range(start, len(current.items)):
                        item = current.items[index]
                        if stop is not None and stop(item):
                            return Walk(out, None, pages, stopped=True)
                        if len(out) == limit:
                            return Walk(out, _resume(current, index), pages)
                        if keep is None or keep(item):
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
