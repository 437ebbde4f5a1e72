"""Compiled JMESPath expressions and `{expr}` templates.

Mappings select and compute values with JMESPath (compiled once at load time), with
the functions of `functions.py` added (`ctx()`, `parse_json()`, string functions, `if()`).

A template is a string with `{expr}` placeholders evaluated against the context. A
template that is one placeholder and nothing else yields the raw value (a number stays a
number, null drops an optional query parameter); otherwise the values are joined as text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, cast

import jmespath
import jmespath.exceptions

from ..errors import MappingError
from .compiled import Compiled, RequestOptions, compile_ast
from .functions import MappingFunctions

__all__ = ["Expression", "Template", "TemplateTree", "ExpressionError", "options_for", "text_of"]

_PLACEHOLDER = re.compile(r"\{([^{}]+)\}")


class ExpressionError(ValueError):
    """A JMESPath expression or template that does not compile."""


def options_for(context: Mapping[str, Any]) -> jmespath.Options:
    """One call's options: its functions (ctx() reads `context`) and one interpreter."""
    return RequestOptions(MappingFunctions(context))


class Expression:
    __slots__ = ("source", "_parsed", "_compiled")

    def __init__(self, source: str) -> None:
        self.source = source
        try:
            self._parsed = jmespath.compile(source)
        except jmespath.exceptions.JMESPathError as exc:
            raise ExpressionError(f"invalid JMESPath {source!r}: {exc}") from exc
        self._compiled = compile_ast(self.ast)  # closures, not a tree walk

    @property
    def ast(self) -> dict[str, Any]:
        return cast(dict[str, Any], self._parsed.parsed)  # the stubs' _TreeNode is this

    @property
    def compiled(self) -> Compiled:
        """The closure `search` calls (JMESPath's own errors not yet turned into `failure`)."""
        return self._compiled

    def search(self, data: Any, options: jmespath.Options | None = None) -> Any:
        try:
            return self._compiled(data, options)
        except jmespath.exceptions.JMESPathError as exc:
            raise self.failure(exc) from exc

    def failure(self, exc: jmespath.exceptions.JMESPathError) -> MappingError:
        return MappingError(f"expression {self.source!r} failed: {exc}", stage="map")

    def __repr__(self) -> str:
        return f"Expression({self.source!r})"


class Template:
    """A string with `{expr}` placeholders, compiled once."""

    __slots__ = ("source", "_parts", "_whole")

    def __init__(self, source: str) -> None:
        self.source = source
        self._parts: list[str | Expression] = []
        pos = 0
        for match in _PLACEHOLDER.finditer(source):
            if match.start() > pos:
                self._parts.append(source[pos:match.start()])
            self._parts.append(Expression(match.group(1).strip()))
            pos = match.end()
        if pos < len(source):
            self._parts.append(source[pos:])
        self._whole = len(self._parts) == 1 and isinstance(self._parts[0], Expression)

    def expressions(self) -> list[Expression]:
        return [part for part in self._parts if isinstance(part, Expression)]

    def render(self, context: Mapping[str, Any], options: jmespath.Options | None = None,
               escape: Callable[[str], str] | None = None) -> Any:
        """Render; `escape` (e.g. URL-quoting a path segment) applies to each value."""
        if self._whole and escape is None:
            return self._parts[0].search(context, options)  # type: ignore[union-attr]
        out = []
        for part in self._parts:
            if isinstance(part, Expression):
                value = part.search(context, options)
                if value is None:
                    return None  # a text with a missing piece is absent, not "None"
                out.append(escape(_text(value)) if escape else _text(value))
            else:
                out.append(part)
        return "".join(out)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class TemplateTree:
    """A JSON-like tree whose strings are templates; renders to plain data."""

    __slots__ = ("_tree",)

    def __init__(self, tree: Any) -> None:
        self._tree = _compile_tree(tree)

    def render(self, context: Mapping[str, Any], options: jmespath.Options | None = None) -> Any:
        return _render_tree(self._tree, context, options)

    def templates(self) -> list[tuple[tuple[Any, ...], Template]]:
        """Every template in the tree with its path below the tree's root."""
        return list(_templates(self._tree, ()))


def _compile_tree(node: Any) -> Any:
    if isinstance(node, str):
        return Template(node)
    if isinstance(node, dict):
        return {k: _compile_tree(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_compile_tree(v) for v in node]
    return node


def _templates(node: Any, path: tuple[Any, ...]) -> Any:
    if isinstance(node, Template):
        yield path, node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from _templates(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _templates(value, (*path, index))


def _render_tree(node: Any, context: Mapping[str, Any], options: jmespath.Options | None) -> Any:
    if isinstance(node, Template):
        return node.render(context, options)
    if isinstance(node, dict):
        rendered = {k: _render_tree(v, context, options) for k, v in node.items()}
        return {k: v for k, v in rendered.items() if v is not None}
    if isinstance(node, list):
        return [v for v in (_render_tree(n, context, options) for n in node) if v is not None]
    return node


def text_of(value: Any) -> str:
    return _text(value)
