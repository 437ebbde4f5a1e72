"""Styles where each answer names the next page: a URL in the body (`next_url`), an
RFC 8288 `Link` header (`link_header`), or a token (`cursor`)."""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator, Callable
from typing import Any

from yarl import URL

from ..errors import MappingError
from ..exchange import Answer, Extra, RequestOption
from ..mapping.expressions import Expression
from ..mapping.functions import truthy
from .walk import JMESPATH, SIZE, TEXT, Page, PageSource, Position, option

__all__ = ["NextUrlPaging", "LinkHeaderPaging", "CursorPaging", "parse_link_header"]


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
                    remaining: Callable[[], int]) -> AsyncGenerator[Page, None]:
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
        "page_size": {**SIZE, "description": "asked on the first request"},
        "size_param": option("where the page size goes on the first request"),
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
    KEYS = {**_LinkedPaging.KEYS, "next": {**JMESPATH, "description": "JMESPath to the "
                                                                       "next page's URL"}}
    REQUIRED = ("next",)

    def __init__(self, spec: dict[str, Any]) -> None:
        super().__init__(spec)
        self._next = Expression(spec["next"])

    def _next_link(self, source: PageSource, answer: Answer) -> Any:
        return source.search(self._next, answer.body)


class LinkHeaderPaging(_LinkedPaging):
    """RFC 8288: the answer's `Link` header has the `rel="next"` URL;
    relative links resolve against the request's URL; same origin rules as next_url.
    With `reverse: true` the list is served from its end: the first page is read for its
    `rel="last"` link (no `last` and no `next`: it is the only page), then pages are
    walked backwards by `rel="prev"`, each page's items reversed — for an upstream that
    lists oldest first and numbers pages from the oldest (so only the last page grows).
    The position counts the items of a page still to serve from its start, which new
    items appended at its end do not move."""

    TYPE = "link_header"
    KEYS = {**_LinkedPaging.KEYS,
            "reverse": {"type": "boolean", "description": "serve the list from its last page "
                        "backwards, each page reversed (newest first from an oldest-first list)"}}

    def __init__(self, spec: dict[str, Any]) -> None:
        super().__init__(spec)
        self._reverse = bool(spec.get("reverse", False))

    def _next_link(self, source: PageSource, answer: Answer) -> Any:
        return _link(answer, "next")

    def pages(self, source: PageSource, position: Position | None,
              remaining: Callable[[], int]) -> AsyncGenerator[Page, None]:
        if self._reverse:
            return self._backwards(source, position)
        return super().pages(source, position, remaining)

    async def _backwards(self, source: PageSource,
                         position: Position | None) -> AsyncGenerator[Page, None]:
        here = position.get(self.key) if position else None
        left = position.get("k") if position else None  # items still to serve, from the start
        first: Answer | None = None  # the first page's answer: served again without a call
        answer: Answer | None = None
        if position is None:  # (resuming with no URL: the first page, once the only one)
            first = await self._fetch(source, None)
            here = self._checked(_link(first, "last"))
            if here is None:
                if _link(first, "next") is not None:
                    raise MappingError("reverse paging needs a Link rel=\"last\"", stage="map")
                answer = first
        seen = {here}
        while True:
            if answer is None:
                answer = await self._fetch(source, here)
            items = source.items(answer.body)
            size = len(items) if left is None else min(left, len(items))
            previous = self._checked(_link(answer, "prev"))
            if previous is not None and previous in seen:  # a loop would serve items twice
                raise MappingError(self._repeats(previous), stage="map")
            seen.add(previous)
            yield Page(items[::-1], len(items) - size, _back(self.key, here, previous, len(items)),
                       previous is not None)
            reached_first = first is not None and previous is not None and previous == _link(answer, "first")
            here, left, answer = previous, None, first if reached_first else None

    def _checked(self, link: Any) -> str | None:
        if link is not None and not isinstance(link, str):
            raise MappingError("the page link is not a URL", stage="map")
        return link or None


def _link(answer: Answer, rel: str) -> str | None:
    """The `rel` URL of the answer's `Link` header, resolved against the request's URL."""
    for value in answer.headers.getall("Link", []) if answer.headers is not None else []:
        link = parse_link_header(value).get(rel)
        if link is not None:
            return str(answer.url.join(URL(link))) if answer.url is not None else link
    return None


def _back(key: str, here: Any, previous: Any, size: int) -> Callable[[int], Position]:
    """Positions on a reversed page of `size` items: `k` of them, from the page's start,
    are left to serve; past its end, the previous page whole."""
    return lambda i: {key: previous} if i >= size else {key: here, "k": size - i}


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
        "token": {**JMESPATH, "description": "JMESPath to the next page's token"},
        "token_header": {**TEXT, "description": "response header holding the token"},
        "param": option("where the token goes (default: query parameter cursor)"),
        "page_size": {**SIZE, "description": "asked on every request"},
        "size_param": option("where the page size goes"),
        "has_more": {**JMESPATH, "description": "JMESPath; false ends the walk"},
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
