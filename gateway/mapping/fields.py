"""Map one upstream record onto a canonical resource, field by field.

A mapping's `fields:` mirrors the canonical resource. Each leaf is one of:

    title: name                         # JMESPath over the upstream record
    id: {from: with_id}                 # the same, long form
    state: {const: open}                # a constant (null: the upstream has no such field)
    sent_at: {from: createdAt, as: epoch_ms}
    direction: {from: sender.type, map: {contact: inbound, "*": outbound}}
    created_at: {from: created, as: datetime, format: "%d/%m/%Y %H:%M"}
    assignee_id: {from: operator.id, default: null}
    contact: {when: user, id: user.id, name: user.name}   # null when `user` is falsy

An object field (`contact`, `last_message`, `sender`) is mapped field by field; with
`when:` (JMESPath over the record) it is null when that is falsy, instead of an object
of nulls. `contact: null` leaves it out altogether.

Values are converted to the canonical field's type unless `as:` says how (dates are
read in the upstream's zone when they carry none). `map` translates upstream values
(compared as text; `"*"` catches the rest; an unmapped value is a mapping failure).
Canonical fields a mapping leaves out are null ([] for lists).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import tzinfo
from typing import Any

import jmespath

from ..canonical import RESOURCE_FIELDS
from ..errors import ConfigError, ConfigErrors, MappingError
from .expressions import Expression, ExpressionError, text_of
from .functions import truthy
from .values import CONVERTERS, ConversionError

__all__ = ["ResourceMapper"]

_LEAF_KEYS = {"from", "const", "as", "map", "default", "format"}
_KIND_CONVERTER = {"string": "string", "integer": "integer", "boolean": "boolean",
                   "datetime": "datetime", "direction": "string", "media[]": "list"}
_DIRECTIONS = {None, "inbound", "outbound"}

ErrorAt = Callable[[tuple[Any, ...], str], Exception]


class _Leaf:
    __slots__ = ("name", "kind", "expr", "const", "convert", "fmt", "table", "default", "path")

    def __init__(self, name: str, kind: str, spec: Any, error_at: ErrorAt,
                 path: tuple[Any, ...]) -> None:
        self.name, self.kind, self.path = name, kind.rstrip("?"), path
        self.expr: Expression | None = None
        self.const: Any = None
        self.table: dict[str, Any] | None = None
        self.fmt: str | None = None
        self.default: Any = None
        converter = _KIND_CONVERTER[self.kind]
        if isinstance(spec, dict):
            unknown = set(spec) - _LEAF_KEYS
            if unknown:
                raise error_at(path, f"unknown key(s) {sorted(unknown)} in field spec")
            if "from" in spec and "const" in spec:
                raise error_at(path, "a field takes `from` or `const`, not both")
            self.const = spec.get("const")
            source = spec.get("from")
            converter = spec.get("as", converter)
            self.fmt = spec.get("format")
            self.default = spec.get("default")
            if "map" in spec:
                if not isinstance(spec["map"], dict):
                    raise error_at((*path, "map"), "map must be an object")
                self.table = {text_of(k): v for k, v in spec["map"].items()}
        elif isinstance(spec, str):
            source = spec
        else:
            source, self.const = None, spec
        if source is not None:
            try:
                self.expr = Expression(source)
            except ExpressionError as exc:
                raise error_at(path, str(exc)) from None
        if converter not in CONVERTERS:
            raise error_at(path, f"unknown conversion `as: {converter}`; "
                                 f"one of {sorted(CONVERTERS)}")
        self.convert = CONVERTERS[converter]

    def apply(self, record: Any, options: jmespath.Options, zone: tzinfo) -> Any:
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
        return self._check(value)

    def _check(self, value: Any) -> Any:
        if self.kind == "direction" and value not in _DIRECTIONS:
            raise MappingError(f"field {self.name}: direction {value!r} is not inbound, "
                               "outbound or null", stage="map")
        if self.kind == "media[]":
            return [_media(item, self.name) for item in value or [] if item is not None]
        return value


def _media(item: Any, name: str) -> dict[str, Any]:
    if isinstance(item, str):
        return {"url": item, "type": None}
    if isinstance(item, dict) and isinstance(item.get("url"), str):
        kind = item.get("type")
        return {"url": item["url"], "type": None if kind is None else str(kind)}
    raise MappingError(f"field {name}: a media item needs a url, got {item!r}", stage="map")


class _Object:
    """A canonical object field: its own tree, null when `when` is falsy."""

    __slots__ = ("when", "tree", "path")

    def __init__(self, when: Expression | None, tree: dict[str, Any],
                 path: tuple[Any, ...]) -> None:
        self.when, self.tree, self.path = when, tree, path

    def apply(self, record: Any, options: jmespath.Options, zone: tzinfo) -> Any:
        if self.when is not None and not truthy(self.when.search(record, options)):
            return None
        return _apply(self.tree, record, options, zone)


class ResourceMapper:
    """Builds one canonical resource from one upstream record."""

    def __init__(self, resource: str, spec: dict[str, Any], error_at: ErrorAt,
                 path: tuple[Any, ...]) -> None:
        self.resource = resource
        self._tree = _compile(RESOURCE_FIELDS[resource], spec, error_at, path, "")

    def expressions(self) -> list[tuple[tuple[Any, ...], Expression]]:
        """Every expression with its path in the mapping (for check-time variable checks)."""
        return list(_expressions(self._tree))

    def map(self, record: Any, options: jmespath.Options, zone: tzinfo) -> dict[str, Any]:
        out = _apply(self._tree, record, options, zone)
        if out.get("id") in (None, ""):
            raise MappingError(f"the upstream {self.resource} has no id", stage="map")
        return out


def _expressions(tree: dict[str, Any]) -> Any:
    for node in tree.values():
        if isinstance(node, _Leaf) and node.expr is not None:
            yield node.path, node.expr
        elif isinstance(node, _Object):
            if node.when is not None:
                yield (*node.path, "when"), node.when
            yield from _expressions(node.tree)


def _is_leaf(spec: Any) -> bool:
    return not isinstance(spec, dict) or bool(set(spec) & _LEAF_KEYS)


def _compile(shape: dict[str, Any], spec: dict[str, Any], error_at: ErrorAt,
             path: tuple[Any, ...], prefix: str) -> dict[str, Any]:
    if not isinstance(spec, dict):
        raise error_at(path, "expected an object of canonical fields")
    errors = [error_at((*path, name), f"not a canonical field; fields are {sorted(shape)}")
              for name in spec if name not in shape]
    tree: dict[str, Any] = {}
    for name, kind in shape.items():
        try:
            tree[name] = _node(name, kind, spec, error_at, path, prefix)
        except ConfigError as error:  # go on: every field's mistake in one run
            errors.extend(getattr(error, "errors", None) or [error])
    if errors:
        raise ConfigErrors(errors)  # type: ignore[arg-type]
    return tree


def _node(name: str, kind: Any, spec: dict[str, Any], error_at: ErrorAt,
          path: tuple[Any, ...], prefix: str) -> Any:
    if name not in spec or (spec[name] is None and isinstance(kind, dict)):
        return [] if kind == "media[]" else None
    if isinstance(kind, dict):
        if _is_leaf(spec[name]):
            raise error_at((*path, name), f"{name} is an object: map its fields "
                                          f"{sorted(kind)}, or null")
        return _object(kind, spec[name], error_at, (*path, name), f"{prefix}{name}.")
    return _Leaf(prefix + name, kind, spec[name], error_at, (*path, name))


def _object(shape: dict[str, Any], spec: dict[str, Any], error_at: ErrorAt,
            path: tuple[Any, ...], prefix: str) -> _Object:
    fields = {k: v for k, v in spec.items() if k != "when"}
    when = None
    if "when" in spec:
        try:
            when = Expression(str(spec["when"]))
        except ExpressionError as exc:
            raise error_at((*path, "when"), str(exc)) from None
    return _Object(when, _compile(shape, fields, error_at, path, prefix), path)


def _apply(tree: dict[str, Any], record: Any, options: jmespath.Options,
           zone: tzinfo) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, node in tree.items():
        if isinstance(node, _Leaf):
            out[name] = node.apply(record, options, zone)
        elif isinstance(node, _Object):
            out[name] = node.apply(record, options, zone)
        else:
            out[name] = list(node) if isinstance(node, list) else node
    return out
