"""The functions mappings add to JMESPath, each documented where it is defined.

`FUNCTION_DOCS` (name → one line) is read by the reference docs and by `check`, so a
function is declared, implemented and described in one place. Every string function
passes null through (a missing field stays missing instead of failing the record).
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import jmespath
import jmespath.exceptions
from jmespath import functions

from ..errors import MappingError

if TYPE_CHECKING:
    from jmespath.functions import _Signature

__all__ = ["MappingFunctions", "FUNCTION_DOCS", "CUSTOM_FUNCTIONS", "truthy"]

_TEXT: _Signature = {"types": ["string", "null"]}
_STRING: _Signature = {"types": ["string"]}

FUNCTION_DOCS: dict[str, str] = {
    "ctx": "`ctx('steps.chat.contact.id')`: JMESPath over the call's context "
           "(chat_id, message_id, query, body, vars, steps, page) from any expression",
    "parse_json": "`parse_json(text)`: JSON held in a string; text that is not JSON fails the answer",
    "replace": "`replace(text, 'old', 'new')`: every occurrence replaced",
    "html_unescape": "`html_unescape(text)`: `&amp;` `&lt;` `&#39;` … back to characters",
    "lower": "`lower(text)`", "upper": "`upper(text)`",
    "trim": "`trim(text)`: surrounding white space removed",
    "split": "`split(text, ',')`: a list of the parts (JMESPath's own `join(',', list)` joins)",
    "if": "`if(cond, a, b)`: `a` when `cond` is truthy (JMESPath truthiness: not false, null, "
          "'' , [] or {}), else `b`",
    "coalesce": "`coalesce(a, b, …)`: the first argument that is not null",
}
CUSTOM_FUNCTIONS = frozenset(FUNCTION_DOCS)


@lru_cache(maxsize=1024)
def _compiled(path: str) -> Any:
    return jmespath.compile(path)


def truthy(value: Any) -> bool:
    """JMESPath's truthiness: false, null, '', [] and {} are false (0 is true)."""
    if value is None or value is False:
        return False
    return not isinstance(value, (str, list, dict)) or bool(value)


class MappingFunctions(functions.Functions):
    """JMESPath's functions plus the mapping ones, bound to one call's context."""

    def __init__(self, context: Mapping[str, Any]) -> None:
        super().__init__()
        self._context = context

    @property
    def context(self) -> Mapping[str, Any]:
        """What `ctx()` reads (compiled `ctx('a.b')` calls read it directly)."""
        return self._context

    @functions.signature(_STRING)
    def _func_ctx(self, path: str) -> Any:
        try:
            return _compiled(path).search(self._context)
        except jmespath.exceptions.JMESPathError as exc:
            raise MappingError(f"ctx({path!r}): {exc}", stage="map") from None

    @functions.signature(_TEXT)
    def _func_parse_json(self, text: str | None) -> Any:
        if text is None or text == "":
            return None
        try:
            return json.loads(text)
        except ValueError as exc:
            raise MappingError(f"text is not JSON: {exc}", stage="map") from exc

    @functions.signature(_TEXT, _STRING, _STRING)
    def _func_replace(self, text: str | None, old: str, new: str) -> str | None:
        return None if text is None else text.replace(old, new)

    @functions.signature(_TEXT)
    def _func_html_unescape(self, text: str | None) -> str | None:
        return None if text is None else html.unescape(text)

    @functions.signature(_TEXT)
    def _func_lower(self, text: str | None) -> str | None:
        return None if text is None else text.lower()

    @functions.signature(_TEXT)
    def _func_upper(self, text: str | None) -> str | None:
        return None if text is None else text.upper()

    @functions.signature(_TEXT)
    def _func_trim(self, text: str | None) -> str | None:
        return None if text is None else text.strip()

    @functions.signature(_TEXT, _STRING)
    def _func_split(self, text: str | None, separator: str) -> list[str] | None:
        return None if text is None else text.split(separator)

    @functions.signature({"types": []}, {"types": []}, {"types": []})
    def _func_if(self, condition: Any, then: Any, otherwise: Any) -> Any:
        return then if truthy(condition) else otherwise

    @functions.signature({"types": [], "variadic": True})
    def _func_coalesce(self, *values: Any) -> Any:
        return next((v for v in values if v is not None), None)
