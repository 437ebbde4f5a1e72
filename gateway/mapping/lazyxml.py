"""When a list operation's XML records may be left unread until used (decided at load).

A record element is left unread (`codecs.LazyElement`) only where that cannot be seen:
the operation's `items` is a plain path (`a.b`, alternatives joined by `||`, `@`) whose
every alternative ends at a declared `xml.lists` element, and no other expression the
gateway evaluates on that answer — the upstream's `errors` (failure, rules, detail) and the
paginator's — can reach a record. Otherwise the answer is read eagerly, as always.

A canonical field read alone (a sort key, an id) reads only the record's children its
expressions name (`record_keys`); a field whose names cannot be told reads the record
whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .codecs import LazyPaths
from .compiled import field_path
from .expressions import Expression
from .nodes import Leaf, ObjectField

__all__ = ["LazyItems", "lazy_items", "record_keys"]

_SCALAR = (str, int, float, bool, type(None))
_SAME_SCOPE = {"comparator", "and_expression", "or_expression", "not_expression",
               "function_expression", "multi_select_list"}


@dataclass(frozen=True)
class LazyItems:
    paths: LazyPaths  # where the unread records are, for the decoder
    field_keys: dict[str, frozenset[str] | None]  # canonical field -> the children it reads


def lazy_items(operation: Any, upstream_expressions: list[Expression | None],
               lists: frozenset[str]) -> LazyItems | None:
    if (operation.paginator is None or operation.items is None or operation.mapper is None
            or operation.steps[-1].request.format != "xml"):
        return None
    paths = _item_paths(operation.items.ast, lists)
    if not paths:
        return None
    expressions = [*upstream_expressions, *_paginator_expressions(operation.paginator)]
    if any(e is not None and _reaches(e.ast, paths) for e in expressions):
        return None
    tree: LazyPaths = {}
    for path in paths:
        node = tree
        for key in path[:-1]:
            node = node.setdefault(key, {})  # type: ignore[assignment]
            if node is None:
                return None
        if node.get(path[-1], None) is not None:
            return None
        node[path[-1]] = None
    keys = {name: _node_keys(operation.mapper.node(name)) for name in operation.mapper.names()}
    return LazyItems(tree, keys)


def _item_paths(node: dict[str, Any], lists: frozenset[str]) -> list[tuple[str, ...]] | None:
    """The paths of a plain `items` expression, each ending at a declared list."""
    if node["type"] == "or_expression":
        left, right = (_item_paths(child, lists) for child in node["children"])
        return None if left is None or right is None else left + right
    if node["type"] == "current":
        return []  # the answer itself: never a list in XML (its root is dropped)
    path = field_path(node)
    if path is None or path[-1] not in lists:
        return None
    return [path]


def _paginator_expressions(paginator: Any) -> list[Expression]:
    return [v for v in getattr(paginator, "__dict__", {}).values() if isinstance(v, Expression)]


def _reaches(node: dict[str, Any], paths: list[tuple[str, ...]]) -> bool:
    """Whether evaluating `node` on the answer may observe a record (conservative)."""
    kind = node["type"]
    if kind == "literal":
        return False
    path = field_path(node)
    if path is not None:
        return any(path[:len(p)] == p[:len(path)] for p in paths)
    if kind == "comparator":
        sides = node["children"]
        for one, other in (sides, sides[::-1]):
            # a record's containers (dicts, lists) never equal, nor order against, a scalar
            if (one["type"] == "literal" and isinstance(one["value"], _SCALAR)
                    and (other["type"] == "current" or field_path(other) is not None)):
                return False
    if kind in _SAME_SCOPE:
        return any(_reaches(child, paths) for child in node["children"])
    return True


def record_keys(node: dict[str, Any]) -> frozenset[str] | None:
    """The record's children an expression reads, None when that cannot be told."""
    kind = node["type"]
    if kind == "literal":
        return frozenset()
    if kind == "field":
        name = node["value"]
        return None if name.startswith("@") or name == "#text" else frozenset([name])
    if kind in ("subexpression", "index_expression", "pipe"):
        return record_keys(node["children"][0])  # the rest reads what that gives
    if kind in _SAME_SCOPE:
        keys: frozenset[str] = frozenset()
        for child in node["children"]:
            more = record_keys(child)
            if more is None:
                return None
            keys |= more
        return keys
    return None


def _node_keys(node: Any) -> frozenset[str] | None:
    if isinstance(node, Leaf):
        return frozenset() if node.expr is None else record_keys(node.expr.ast)
    if isinstance(node, ObjectField):
        parts = [record_keys(node.when.ast) if node.when is not None else frozenset()]
        parts += [_node_keys(child) for child in node.tree.values()]
        if any(part is None for part in parts):
            return None
        return frozenset().union(*parts)  # type: ignore[arg-type]
    return frozenset()  # a field the mapping leaves out: null, reads nothing
