"""Styles where each answer names the next page: a URL in the body (`next_url`), an
RFC 8288 `Link` header (`link_header`), or a token (`cursor`)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
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
