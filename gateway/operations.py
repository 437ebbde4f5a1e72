"""Execute one canonical operation against its upstream, as its mapping declares.

Stages, in order: build each step's upstream request from templates → call → decode
(in `UpstreamClient`) → for the last step, select the record(s) → map them onto the
canonical resource → paginate (list operations). Earlier steps' answers are kept in
the context as `steps.<name>` for later templates.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote

import jmespath
from yarl import URL

from multidict import CIMultiDict

from .config.model import BodySpec, OperationSpec, RequestSpec, Resilience, Route
from .errors import MappingError, NotFound
from .mapping.codecs import ENCODERS, LazyElement, LazyPaths
from .exchange import Answer, Extra
from .mapping.expressions import Expression, TemplateTree, options_for
from .paginators import walk
from .paginators.walk import Predicate
from .resilience.deadline import Budget
from .upstream import OutboundRequest, UpstreamClient, same_origin

__all__ = ["Call", "ListResult", "execute", "is_dot_segment"]

_ACCEPT = {"json": "application/json", "xml": "application/xml"}
_NO_FIELDS = TemplateTree({})


@dataclass
class Call:
    """Everything one canonical call knows, as the mapping's templates see it."""

    route: Route
    operation: OperationSpec
    chat_id: str | None = None
    message_id: str | None = None
    query: dict[str, Any] = field(default_factory=dict)
    body: dict[str, Any] | None = None
    request_id: str = ""
    include_raw: bool = False
    limit: int = 20
    position: dict[str, Any] | None = None
    max_pages: int = 50
    upstream_calls: int = 0
    steps: dict[str, Any] = field(default_factory=dict)
    budget: Budget | None = None  # the request's deadline (None: one per upstream call)
    policy: Resilience | None = None

    def context(self) -> dict[str, Any]:
        upstream = self.route.upstream
        return {"chat_id": self.chat_id, "message_id": self.message_id, "query": self.query,
                "body": self.body or {}, "vars": upstream.vars, "steps": self.steps}


@dataclass
class ListResult:
    items: list[dict[str, Any]]
    next_position: dict[str, Any] | None


async def execute(client: UpstreamClient, call: Call) -> dict[str, Any] | ListResult | None:
    context = call.context()
    options = options_for(context)
    *earlier, last = call.operation.steps
    for step in earlier:
        answer = await _send(client, call, step.request, context, options, reads_answer=True)
        if step.name:
            call.steps[step.name] = answer
    if call.operation.paginator is not None:
        return await _list(client, call, last.request, context, options)
    answer = await _send(client, call, last.request, context, options,
                         reads_answer=call.operation.mapper is not None)
    if call.operation.mapper is None:
        return None
    record = call.operation.item.search(answer, options)
    if record is None:
        raise NotFound(f"{call.route.name} has no such {call.operation.mapper.resource}")
    if not isinstance(record, dict):
        raise MappingError(f"no {call.operation.mapper.resource} record in the answer",
                           stage="map")
    return _map(call, record, options)


def _map(call: Call, record: dict[str, Any], options: jmespath.Options) -> dict[str, Any]:
    resource = call.operation.mapper.map(record, options, call.route.upstream.zone)  # type: ignore[union-attr]
    return _with_raw(call, resource, record)


def _with_raw(call: Call, resource: dict[str, Any], record: dict[str, Any]) -> dict[str, Any]:
    if call.include_raw:
        resource["raw"] = record
    return resource


class _Pages:
    """The `PageSource` a paginator walks: the operation's last request, page by page."""

    def __init__(self, client: UpstreamClient, call: Call, request: RequestSpec,
                 context: dict[str, Any], options: jmespath.Options) -> None:
        self._client, self._call, self._request = client, call, request
        self._context, self._options = context, options

    async def fetch(self, extra: Extra | None = None, url: str | None = None) -> Answer:
        lazy = self._call.operation.lazy_items
        answer: Answer = await _send(self._client, self._call, self._request, self._context,
                                     self._options, extra=extra, link=url, with_headers=True,
                                     lazy=None if lazy is None else lazy.paths)
        return answer

    def search(self, expression: Expression, body: Any) -> Any:
        return expression.search(body, self._options)

    def items(self, body: Any) -> list[dict[str, Any]]:
        records = self._call.operation.items.search(body, self._options)  # type: ignore[union-attr]
        if records is None:
            return []
        if not isinstance(records, list):
            raise MappingError("the answer's items are not a list (for XML, name the element "
                               "in the mapping's xml.lists)", stage="map")
        mapped = self._call.operation.mapper.bind(self._options, self._call.route.upstream.zone)  # type: ignore[union-attr]
        return [_Record(self._call, r, self._options, mapped)  # type: ignore[misc]
                for r in records if r is not None]


class _Record:
    """An upstream record, mapped when the walk serves it. Before that, a canonical field
    the walk reads (a sort or filter key, an id to resume after) is mapped alone: items a
    page does not serve cost one field each, or nothing."""

    __slots__ = ("_call", "_record", "_options", "_map", "_mapped", "_fields")

    def __init__(self, call: Call, record: Any, options: jmespath.Options,
                 mapped: Callable[[Any], dict[str, Any]]) -> None:
        self._call, self._record, self._options, self._map = call, record, options, mapped
        self._mapped: dict[str, Any] | None = None
        self._fields: dict[str, Any] | None = None  # made when a field is read alone

    def resolve(self) -> dict[str, Any]:
        if self._mapped is None:
            record = self._whole()
            self._mapped = _with_raw(self._call, self._map(record), record)
        return self._mapped

    def _whole(self) -> Any:
        """The record as the eager XML reader would give it (read now if left unread)."""
        if type(self._record) is LazyElement:
            self._record = self._record.read()
        return self._record

    def _alone(self, name: str) -> Any:
        """What reading `name` alone needs of the record: only its children that field
        reads, when the record is unread and those can be told."""
        record = self._record
        if type(record) is LazyElement:
            keys = self._call.operation.lazy_items.field_keys.get(name)
            return record.fields(keys) if keys is not None else self._whole()
        return record

    def _read(self, name: str) -> Any:
        """The field alone, or `_WHOLE` when it is not one the mapper reads alone."""
        if self._mapped is not None:
            return _WHOLE
        if self._fields is None:
            self._fields = {}
        if name not in self._fields:
            read = self._call.operation.mapper.reader(name)  # type: ignore[union-attr]
            if read is None:
                return _WHOLE
            self._fields[name] = read(self._alone(name), self._options,
                                      self._call.route.upstream.zone)
        return self._fields[name]

    def __getitem__(self, name: str) -> Any:
        value = self._read(name)
        return self.resolve()[name] if value is _WHOLE else value

    def get(self, name: str, default: Any = None) -> Any:
        value = self._read(name)
        return self.resolve().get(name, default) if value is _WHOLE else value


_WHOLE = object()


async def _list(client: UpstreamClient, call: Call, request: RequestSpec,
                context: dict[str, Any], options: jmespath.Options) -> ListResult:
    after = call.query.get("after") if call.operation.after == "gateway" else None
    keep, stop = _predicates(call, after)
    result = await walk(call.operation.paginator, _Pages(client, call, request, context, options),  # type: ignore[arg-type]
                        call.position, limit=call.limit, keep=keep, stop=stop,
                        max_pages=call.max_pages)
    if (after is not None and not result.stopped
            and call.position is None and result.next_position is None):
        # The whole chat was read without meeting it: polling from it would be wrong.
        raise NotFound(f"message {after!r} (after) is not in chat {call.chat_id!r}")
    return ListResult([item.resolve() for item in result.items], result.next_position)  # type: ignore[attr-defined]


def _predicates(call: Call, after: str | None) -> tuple[Predicate | None, Predicate | None]:
    """(keep, stop) for the walk; None where every item is kept / none stops it."""
    gateway_filters = {name: call.query[name] for name, mode in call.operation.filters.items()
                       if mode == "gateway" and call.query.get(name) is not None}

    def stop(item: dict[str, Any]) -> bool:
        return bool(item["id"] == after)

    def keep(item: dict[str, Any]) -> bool:
        return all(_FILTERS[name](item, value) for name, value in gateway_filters.items())

    return (keep if gateway_filters else None), (stop if after is not None else None)


def _matches_text(item: dict[str, Any], text: str) -> bool:
    needle = text.casefold()
    names = [item.get("title"), (item.get("contact") or {}).get("name")]
    return any(isinstance(n, str) and needle in n.casefold() for n in names)


_FILTERS: dict[str, Callable[[dict[str, Any], Any], bool]] = {
    "q": _matches_text,
    "state": lambda item, value: item.get("state") == value,
    "unread": lambda item, value: ((item.get("unread_count") or 0) > 0) == value,
    "assignee": lambda item, value: item.get("assignee_id") == value,
}


async def _send(client: UpstreamClient, call: Call, request: RequestSpec, context: dict[str, Any],
                options: jmespath.Options, extra: Extra | None = None,
                link: str | None = None, with_headers: bool = False,
                reads_answer: bool = True, lazy: LazyPaths | None = None) -> Any:
    extra = extra or _NO_EXTRA
    upstream = call.route.upstream
    if link is not None:
        url = upstream.base_url.join(URL(link))  # a relative link is on the upstream
        if not same_origin(upstream, url) or _dot_segment(url.raw_path):
            raise client.reject_link(upstream, call.operation.name, url)
        url = url.update_query(upstream.auth.query) if upstream.auth.query else url
    else:
        path = request.path.render(context, options, escape=_segment)
        if path is None:  # e.g. a step found no record to act on
            raise NotFound(f"{upstream.name} has no record for {request.path.source}")
        if _dot_segment(path):
            # Client ids were refused earlier (400): this value came from an upstream answer.
            raise client.reject(upstream, call.operation.name, f"a value {upstream.name} "
                                f"answered would make the path {request.path.source} "
                                "climb out of its place (a . or .. segment); not sent")
        query = {k: v for k, t in request.query.items()
                 if (v := _text(t.render(context, options))) is not None}
        for name, value in extra.query.items():
            if (text := _text(value)) is not None:
                query[name] = text
        if upstream.auth.query:
            query.update(upstream.auth.query)
        url = URL(upstream.base_text + path, encoded=True).with_query(query)
    headers = CIMultiDict({"Accept": _ACCEPT[request.format], "X-Request-ID": call.request_id})
    if upstream.auth.headers:
        headers.update(upstream.auth.headers)
    for name, template in request.headers.items():
        value = template.render(context, options)
        if value is not None:
            headers[name] = str(value)
    for name, value in extra.headers.items():
        if (text := _text(value)) is not None:
            headers[name] = text
    data = None
    if request.body is not None or extra.body:
        body = request.body or BodySpec("json" if request.format == "json" else "xml", _NO_FIELDS)
        fields = body.fields.render(context, options)
        if extra.body:
            fields = {**(fields or {}), **extra.body}
        data, content_type = ENCODERS[body.encoding](fields, root=body.root,
                                                     namespace=body.namespace)
        headers.setdefault("Content-Type", content_type)  # one the mapping declares wins
    call.upstream_calls += 1
    return await client.call(upstream, call.operation.name, OutboundRequest(
        request.method, url, headers, data, request.format, options=options,
        idempotent=request.idempotent, reads_answer=reads_answer,
        blame="body" if call.body is not None else None, lazy=lazy),
        call.budget, call.policy, call.request_id, with_headers=with_headers)


_NO_EXTRA = Extra()  # read, never written


def _segment(value: str) -> str:
    """A value put into one path segment: every reserved character escaped, `/` too."""
    return quote(value, safe="")


def is_dot_segment(text: str) -> bool:
    """`.` or `..`, or holding one between slashes (`a/..`), also percent-encoded
    (`%2e`, `%2E%2e`, `a%2F..`) however many times: a server that decodes before it
    normalises would climb out of the path."""
    if "." not in text and "%" not in text:  # most ids and paths: nothing to decode
        return False
    while not any(piece in (".", "..") for piece in re.split(r"[/\\]", text)):
        decoded = unquote(text)  # shorter whenever it decodes anything: this ends
        if decoded == text:
            return False
        text = decoded
    return True


def _dot_segment(path: str) -> bool:
    if "." not in path and "%" not in path:  # nearly every path: no segment can be one
        return False
    return any(is_dot_segment(segment) for segment in path.split("/"))


def _text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
