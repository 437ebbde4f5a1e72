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
    link_header  RFC 8288 `Link: <…>; rel="next"` (same origin and prefix rules as next_url);
                 `reverse: true` walks from `rel="last"` back by `rel="prev"`, each page
                 reversed (newest first from an upstream that lists oldest first)

Each style names its `type:` (`TYPE`), its keys (`KEYS`, JSON Schema fragments) and
its docs (the class docstring) itself; `PAGINATORS` is built from the classes.
"""

from __future__ import annotations

from typing import Any

from .chained import CursorPaging, LinkHeaderPaging, NextUrlPaging, parse_link_header
from .counted import NoPaging, OffsetPaging, PageNumberPaging
from .walk import Page, PageSource, Paginator, Walk, walk

__all__ = ["Page", "PageSource", "Paginator", "PAGINATORS", "build_paginator", "walk", "Walk",
           "parse_link_header"]


PAGINATORS: dict[str, Any] = {cls.TYPE: cls for cls in (
    NoPaging, PageNumberPaging, NextUrlPaging, OffsetPaging, CursorPaging, LinkHeaderPaging)}


def build_paginator(spec: dict[str, Any]) -> Paginator:
    paginator: Paginator = PAGINATORS[spec["type"]](spec)
    return paginator
