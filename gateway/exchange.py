"""The two small parts one upstream exchange is made of, shared by the operation, the
paginators and the upstream client:

- `RequestOption` — *where a value goes*: a query parameter, a header or a body field
  (Airbyte's `inject_into`). Page numbers, sizes, offsets and cursor tokens use it;
- `Extra` — the values a paginator adds to the operation's own request;
- `Answer` — what came back: the decoded body, the response headers and the URL asked
  (a relative `Link` resolves against it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from yarl import URL

__all__ = ["Answer", "Extra", "RequestOption", "OPTION_PLACES"]

OPTION_PLACES = ("query", "header", "body")


@dataclass(frozen=True)
class Answer:
    body: Any
    headers: Any = None  # a case-insensitive mapping (aiohttp's CIMultiDictProxy)
    url: URL | None = None


@dataclass(frozen=True)
class RequestOption:
    """`name` in YAML means a query parameter; `{name: X, in: header}` says where."""

    name: str
    into: str = "query"

    SCHEMA: ClassVar[dict[str, Any]] = {"oneOf": [
        {"type": "string", "minLength": 1, "description": "a query parameter's name"},
        {"type": "object", "additionalProperties": False, "required": ["name"], "properties": {
            "name": {"type": "string", "minLength": 1, "description": "parameter, header or "
                                                                      "body field name"},
            "in": {"enum": list(OPTION_PLACES), "description": "where the value goes "
                                                               "(default query)"}}}]}

    @classmethod
    def from_spec(cls, spec: Any) -> RequestOption | None:
        if spec is None:
            return None
        if isinstance(spec, str):
            return cls(spec)
        return cls(spec["name"], spec.get("in", "query"))


@dataclass
class Extra:
    query: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, Any] = field(default_factory=dict)
    body: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, *values: tuple[RequestOption | None, Any]) -> Extra:
        """Each (option, value) put where the option says; a missing option or a null
        value puts nothing."""
        extra = cls()
        for option, value in values:
            if option is not None and value is not None:
                {"query": extra.query, "header": extra.headers,
                 "body": extra.body}[option.into][option.name] = value
        return extra
