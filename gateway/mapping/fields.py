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
from ..errors import ConfigError, ConfigErrors
from .codegen import generate
from .expressions import Expression, ExpressionError, text_of
from .nodes import Leaf, ObjectField, interpret
from .values import CONVERTERS

__all__ = ["ResourceMapper", "FieldReader"]

_LEAF_KEYS = {"from", "const", "as", "map", "default", "format"}
_KIND_CONVERTER = {"string": "string", "integer": "integer", "boolean": "boolean",
                   "datetime": "datetime", "direction": "string", "media[]": "list"}

ErrorAt = Callable[[tuple[Any, ...], str], Exception]
FieldReader = Callable[[Any, "jmespath.Options | None", tzinfo], Any]


def _leaf(name: str, kind: str, spec: Any, error_at: ErrorAt, path: tuple[Any, ...]) -> Leaf:
    kind = kind.rstrip("?")
    const: Any = None
    table: dict[str, Any] | None = None
    fmt: str | None = None
    default: Any = None
    converter = _KIND_CONVERTER[kind]
    if isinstance(spec, dict):
        unknown = set(spec) - _LEAF_KEYS
        if unknown:
            raise error_at(path, f"unknown key(s) {sorted(unknown)} in field spec")
        if "from" in spec and "const" in spec:
            raise error_at(path, "a field takes `from` or `const`, not both")
        const = spec.get("const")
        source = spec.get("from")
        converter = spec.get("as", converter)
        fmt = spec.get("format")
        default = spec.get("default")
        if "map" in spec:
            if not isinstance(spec["map"], dict):
                raise error_at((*path, "map"), "map must be an object")
            table = {text_of(k): v for k, v in spec["map"].items()}
    elif isinstance(spec, str):
        source = spec
    else:
        source, const = None, spec
    expr = None
    if source is not None:
        try:
            expr = Expression(source)
        except ExpressionError as exc:
            raise error_at(path, str(exc)) from None
    if converter not in CONVERTERS:
        raise error_at(path, f"unknown conversion `as: {converter}`; "
                             f"one of {sorted(CONVERTERS)}")
    return Leaf(name, kind, path, expr, const, converter, fmt, table, default)


class ResourceMapper:
    """Builds one canonical resource from one upstream record.

    `map(record, options, zone)` is one function generated for this mapping at load time
    (`codegen.py`), `bind(options, zone)` the same for many records of one call;
    `reader(name)` maps one canonical field alone, for a walk that only
    sorts, filters or compares ids; `map_reference` walks the field tree instead (the
    semantics the generated code is held to)."""

    def __init__(self, resource: str, spec: dict[str, Any], error_at: ErrorAt,
                 path: tuple[Any, ...]) -> None:
        self.resource = resource
        self._tree = _compile(RESOURCE_FIELDS[resource], spec, error_at, path, "")
        generated = generate(resource, self._tree)
        self.map: Callable[[Any, jmespath.Options | None, tzinfo], dict[str, Any]] = generated.map
        self._bind = generated.bind
        self._readers = generated.readers
        self.source = generated.source

    def expressions(self) -> list[tuple[tuple[Any, ...], Expression]]:
        """Every expression with its path in the mapping (for check-time variable checks)."""
        return list(_expressions(self._tree))

    def bind(self, options: jmespath.Options | None,
             zone: tzinfo) -> Callable[[Any], dict[str, Any]]:
        """`map` for the records of one call (one page): what does not read the record
        (`ctx()` values) is computed once, here, instead of per record."""
        bound = self._bind(options, zone)
        if bound is not None:
            return bound
        mapped = self.map
        return lambda record: mapped(record, options, zone)

    def reader(self, name: str) -> FieldReader | None:
        """One canonical field of a record, mapped alone (None: not a field of it); the
        `id` reader fails as `map` does for a record without one."""
        return self._readers.get(name)

    def names(self) -> list[str]:
        """The canonical fields `reader` maps alone."""
        return list(self._readers)

    def node(self, name: str) -> Any:
        """The field's compiled node (a `Leaf`, an `ObjectField`, or a constant)."""
        return self._tree.get(name)

    def map_reference(self, record: Any, options: jmespath.Options | None,
                      zone: tzinfo) -> dict[str, Any]:
        return interpret(self._tree, self.resource, record, options, zone)


def _expressions(tree: dict[str, Any]) -> Any:
    for node in tree.values():
        if isinstance(node, Leaf) and node.expr is not None:
            yield node.path, node.expr
        elif isinstance(node, ObjectField):
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
    return _leaf(prefix + name, kind, spec[name], error_at, (*path, name))


def _object(shape: dict[str, Any], spec: dict[str, Any], error_at: ErrorAt,
            path: tuple[Any, ...], prefix: str) -> ObjectField:
    fields = {k: v for k, v in spec.items() if k != "when"}
    when = None
    if "when" in spec:
        try:
            when = Expression(str(spec["when"]))
        except ExpressionError as exc:
            raise error_at((*path, "when"), str(exc)) from None
    return ObjectField(when, _compile(shape, fields, error_at, path, prefix), path)
