"""The compiled form of a mapping's `fields:` and the reference semantics of mapping.

`fields.py` builds a tree of these nodes from the YAML; `codegen.py` turns the tree into
one generated function per mapper (what runs per request). `interpret()` walks the tree
node by node: it is the specification the generated code must equal, kept small and
plain so that a test can compare the two on random records.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import tzinfo
from typing import Any

import jmespath

from ..errors import MappingError
from .expressions import Expression, text_of
from .functions import truthy
from .values import CONVERTERS, ConversionError

__all__ = ["Leaf", "ObjectField", "interpret", "apply_node", "media_list", "no_id", "DIRECTIONS"]

DIRECTIONS = frozenset({None, "inbound", "outbound"})


class Leaf:
    """One canonical scalar (or media list): where it comes from and how it converts."""

    __slots__ = ("name", "kind", "path", "expr", "const", "converter", "convert", "fmt",
                 "table", "default")

    def __init__(self, name: str, kind: str, path: tuple[Any, ...], expr: Expression | None,
                 const: Any, converter: str, fmt: str | None, table: dict[str, Any] | None,
                 default: Any) -> None:
        self.name, self.kind, self.path, self.expr, self.const = name, kind, path, expr, const
        self.converter, self.fmt, self.table, self.default = converter, fmt, table, default
        self.convert: Callable[[Any, tzinfo, str | None], Any] = CONVERTERS[converter]

    def apply(self, record: Any, options: jmespath.Options | None, zone: tzinfo) -> Any:
        value = self.expr.search(record, options) if self.expr else self.const
        if self.table is not None and value is not None:
            key = text_of(value)
            if key in self.table:
                value = self.table[key]
            elif "*" in self.table:
                value = self.table["*"]
            else:
                raise MappingError(f"field {self.name}: no mapping for upstream value "
                                   f"{key!r}", stage="map")
        try:
            value = self.convert(value, zone, self.fmt)
        except ConversionError as exc:
            raise MappingError(f"field {self.name}: {exc}", stage="map") from None
        if value is None:
            value = self.default
        if self.kind == "direction" and value not in DIRECTIONS:
            raise MappingError(f"field {self.name}: direction {value!r} is not inbound, "
                               "outbound or null", stage="map")
        if self.kind == "media[]":
            return media_list(value, self.name)
        return value


def media_list(value: Any, name: str) -> list[dict[str, Any]]:
    return [_media(item, name) for item in value or [] if item is not None]


def _media(item: Any, name: str) -> dict[str, Any]:
    if isinstance(item, str):
        return {"url": item, "type": None}
    if isinstance(item, dict) and isinstance(item.get("url"), str):
        kind = item.get("type")
        return {"url": item["url"], "type": None if kind is None else str(kind)}
    raise MappingError(f"field {name}: a media item needs a url, got {item!r}", stage="map")


class ObjectField:
    """A canonical object field: its own tree, null when `when` is falsy."""

    __slots__ = ("when", "tree", "path")

    def __init__(self, when: Expression | None, tree: dict[str, Any],
                 path: tuple[Any, ...]) -> None:
        self.when, self.tree, self.path = when, tree, path

    def apply(self, record: Any, options: jmespath.Options | None, zone: tzinfo) -> Any:
        if self.when is not None and not truthy(self.when.search(record, options)):
            return None
        return _apply(self.tree, record, options, zone)


def no_id(resource: str) -> MappingError:
    return MappingError(f"the upstream {resource} has no id", stage="map")


def interpret(tree: dict[str, Any], resource: str, record: Any,
              options: jmespath.Options | None, zone: tzinfo) -> dict[str, Any]:
    """Map one record by walking the tree (the reference the generated code equals)."""
    out = _apply(tree, record, options, zone)
    if out.get("id") in (None, ""):
        raise no_id(resource)
    return out


def apply_node(node: Any, record: Any, options: jmespath.Options | None, zone: tzinfo) -> Any:
    """One canonical field's value (the reference for a single field's reader)."""
    if isinstance(node, (Leaf, ObjectField)):
        return node.apply(record, options, zone)
    return list(node) if isinstance(node, list) else node


def _apply(tree: dict[str, Any], record: Any, options: jmespath.Options | None,
           zone: tzinfo) -> dict[str, Any]:
    return {name: apply_node(node, record, options, zone) for name, node in tree.items()}
