"""Styles whose position is a count: everything at once (`none`), page numbers, offsets."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from datetime import datetime
from typing import Any

from ..errors import MappingError
from ..exchange import Extra, RequestOption
from ..mapping.expressions import Expression
from .walk import JMESPATH, SIZE, TEXT, Page, PageSource, Position, option

__all__ = ["NoPaging", "PageNumberPaging", "OffsetPaging"]

_RESYNC_WINDOW = 20  # resuming an offset walk, items asked for at least (not calls)


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
                "properties": {"field": {**TEXT, "description": "a canonical field"},
                               "as": {"enum": ["string", "number", "datetime"]}}}},
            "direction": {"enum": ["asc", "desc"]}}}}
    page_size = None

    def __init__(self, spec: dict[str, Any]) -> None:
        order: dict[str, Any] = spec.get("order") or {}
        self._keys = [(k["field"], k.get("as", "string")) for k in order.get("by", ())]
        self._reverse = order.get("direction", "asc") == "desc"

    async def pages(self, source: PageSource, position: Position | None,
                    remaining: Callable[[], int]) -> AsyncGenerator[Page, None]:
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
        "page_param": option("where the page number goes (default page)"),
        "size_param": option("where the page size goes (default limit)"),
        "page_size": {**SIZE, "description": "the upstream's maximum, always asked"},
        "first_page": {"type": "integer", "minimum": 0, "description": "default 1"},
        "total_pages": {**JMESPATH, "description": "JMESPath to the number of pages"},
    }
    REQUIRED = ("page_size",)

    def __init__(self, spec: dict[str, Any]) -> None:
        self.page_size = spec["page_size"]
        self._page = RequestOption.from_spec(spec.get("page_param", "page"))
        self._size = RequestOption.from_spec(spec.get("size_param", "limit"))
        self._first = spec.get("first_page", 1)
        self._total = Expression(spec["total_pages"]) if "total_pages" in spec else None

    async def pages(self, source: PageSource, position: Position | None,
                    remaining: Callable[[], int]) -> AsyncGenerator[Page, None]:
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
            yield Page(items, start, _offset_at(base), has_next)
            number, start = number + 1, 0


class OffsetPaging:
    """`?offset=O&limit=N`: asks for one item more than it needs to know whether more
    exist."""

    TYPE = "offset"
    KEYS: dict[str, Any] = {
        "offset_param": option("where the offset goes (default offset)"),
        "limit_param": option("where the count goes (default limit)"),
        "max_page_size": {**SIZE, "description": "the most the upstream gives (default 100)"},
    }
    REQUIRED: tuple[str, ...] = ()

    def __init__(self, spec: dict[str, Any]) -> None:
        self.page_size = spec.get("max_page_size", 100)
        self._offset = RequestOption.from_spec(spec.get("offset_param", "offset"))
        self._limit = RequestOption.from_spec(spec.get("limit_param", "limit"))

    async def pages(self, source: PageSource, position: Position | None,
                    remaining: Callable[[], int]) -> AsyncGenerator[Page, None]:
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
            yield Page(items, back, _offset_at(base), len(items) >= size)
            offset, back, window = base + len(items), 0, 0


def _offset_at(base: int) -> Callable[[int], Position]:
    """The `resume` of a page whose first item is the upstream's item number `base`."""
    return lambda i: {"o": base + i}
