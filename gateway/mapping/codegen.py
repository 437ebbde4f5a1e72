"""Each mapper generated as one Python function at load time.

`generate(resource, tree)` writes the source of one function `map(record, options, zone)`
that builds the canonical dict in one go, and one reader per top-level canonical field
(a walk that only sorts, filters or compares ids maps that field alone). Like
`dataclasses` and `namedtuple`, it compiles the text with `compile()` and `exec` in a
private namespace. What the generated code does, field by field (`nodes.Leaf.apply`, the
reference, says the same one step at a time):

- a plain field path (`a.b.c`) is a `.get` chain read in place (a non-object on the way
  is null, as JMESPath has it), and so are literals, `@`, `&&`, `||` and comparisons
  with a text or null; any other form calls its compiled closure;
- constants are folded when the whole leaf is (a constant that fails still fails per
  record, with its message);
- a `map:` table is one dict lookup; a converter is called only when the value is not
  already what it would return (`str` stays `str`);
- `default:`, direction checks, media lists and `when:` objects as the reference has them.

What a mapping says never becomes source text: upstream keys that are not plain ASCII
identifiers, constants, tables, field names for messages, formats and expressions are
bound in the namespace under generated names (`_k3`, `_c4`). Only generated local names,
repr() of identifier keys and the canonical field names of `canonical.py` (checked to be
identifiers) are written out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timezone, tzinfo
from typing import Any

import jmespath
from jmespath.exceptions import JMESPathError

from ..errors import MappingError
from .compiled import compile_ast, field_path, text_comparison
from .expressions import Expression, text_of
from .functions import truthy
from .nodes import DIRECTIONS, Leaf, ObjectField, media_list, no_id
from .values import ConversionError

__all__ = ["Generated", "generate"]

Mapped = Callable[[Any, "jmespath.Options | None", tzinfo], Any]
_MISS = object()
_FOLDABLE = (type(None), str, bool, int, float)
# When a converter would hand the value back unchanged (values.py), it is not called:
# `{v}` is the value's local name. A converter missing here is always called.
_UNCHANGED = {
    "any": "True",
    "string": "{v} is None or type({v}) is str",
    "boolean": "{v} is None or type({v}) is bool",
    "integer": "{v} is None",
    "datetime": "{v} is None",
    "epoch_ms": "{v} is None",
    "epoch_s": "{v} is None",
    "list": "type({v}) is list",
}


@dataclass(frozen=True)
class Generated:
    map: Callable[[Any, "jmespath.Options | None", tzinfo], dict[str, Any]]
    readers: dict[str, Mapped]
    source: str


class _Writer:
    """The namespace the generated source runs in, and fresh names for it."""

    def __init__(self, resource: str) -> None:
        self.count = 0
        self.ns: dict[str, Any] = {
            "__builtins__": {"type": type, "str": str, "bool": bool, "list": list, "dict": dict,
                             "isinstance": isinstance, "AttributeError": AttributeError},
            "_MappingError": MappingError, "_ConversionError": ConversionError,
            "_JMESPathError": JMESPathError, "_text_of": text_of, "_truthy": truthy,
            "_media_list": media_list, "_DIRECTIONS": DIRECTIONS, "_MISS": _MISS,
            "_no_id": no_id, "_resource": resource,
        }

    def fresh(self, hint: str) -> str:
        self.count += 1
        return f"{hint}{self.count}"

    def bind(self, value: Any, hint: str) -> str:
        name = self.fresh(f"_{hint}")
        self.ns[name] = value
        return name

    def constant(self, value: Any) -> str:
        return repr(value) if value is None or isinstance(value, bool) else self.bind(value, "c")

    def key(self, key: Any) -> str:
        plain = isinstance(key, str) and key.isascii() and key.isidentifier()
        return repr(key) if plain else self.bind(key, "k")


def generate(resource: str, tree: dict[str, Any]) -> Generated:
    writer = _Writer(resource)
    lines = ["def _map(record, options, zone):"]
    lines += _indent(_tree(writer, tree, "out"))
    lines += ['    if out.get("id") in (None, ""):', "        raise _no_id(_resource)",
              "    return out"]
    readers: dict[str, str] = {}
    for name, node in tree.items():
        function = readers[name] = writer.fresh("_read")
        lines += ["", f"def {function}(record, options, zone):"]
        lines += _indent(_node(writer, node, "value"))
        if name == "id":
            lines += ['    if value in (None, ""):', "        raise _no_id(_resource)"]
        lines.append("    return value")
    source = "\n".join(lines) + "\n"
    exec(compile(source, f"<generated mapper of a {resource}>", "exec"), writer.ns)
    return Generated(writer.ns["_map"], {name: writer.ns[fn] for name, fn in readers.items()},
                     source)


def _indent(lines: list[str]) -> list[str]:
    return ["    " + line for line in lines]


def _field_name(name: str) -> str:
    if not (name.isascii() and name.isidentifier()):  # canonical.py's names, never YAML's
        raise ValueError(f"not a canonical field name: {name!r}")
    return repr(name)


def _tree(writer: _Writer, tree: dict[str, Any], var: str) -> list[str]:
    lines: list[str] = []
    items = []
    for name, node in tree.items():
        local = writer.fresh("v")
        lines += _node(writer, node, local)
        items.append(f"{_field_name(name)}: {local}")
    return [*lines, f"{var} = {{{', '.join(items)}}}"]


def _node(writer: _Writer, node: Any, var: str) -> list[str]:
    if isinstance(node, Leaf):
        return _leaf(writer, node, var)
    if isinstance(node, ObjectField):
        return _object(writer, node, var)
    if node is None:
        return [f"{var} = None"]
    if node == []:
        return [f"{var} = []"]  # a fresh list per record, as the reference copies it
    raise TypeError(f"unexpected mapping node {node!r}")


def _object(writer: _Writer, node: ObjectField, var: str) -> list[str]:
    body = _tree(writer, node.tree, var)
    if node.when is None:
        return body
    when = writer.fresh("w")
    return [*_expression(writer, node.when, when), f"if _truthy({when}):", *_indent(body),
            "else:", f"    {var} = None"]


def _expression(writer: _Writer, expr: Expression, var: str) -> list[str]:
    return _part(writer, expr, expr.ast, var)


def _part(writer: _Writer, expr: Expression, node: dict[str, Any], var: str) -> list[str]:
    """`node`, a part of `expr`, over the record into `var`: paths, literals, `@`, `&&`,
    `||` and comparisons with a text or null written out; any other form calls its
    closure (a JMESPath error in it fails the whole expression, as `search` has it)."""
    keys = field_path(node)
    if keys is not None:
        chain = "record" + "".join(f".get({writer.key(key)})" for key in keys)
        return ["try:", f"    {var} = {chain}", "except AttributeError:", f"    {var} = None"]
    kind = node["type"]
    if kind == "literal":
        return [f"{var} = {writer.constant(node['value'])}"]
    if kind in ("current", "identity"):
        return [f"{var} = record"]
    if kind in ("and_expression", "or_expression"):
        left = writer.fresh("m")
        first = _part(writer, expr, node["children"][0], left)
        second = _indent(_part(writer, expr, node["children"][1], var))
        false = (f"if {left} is None or {left} is False or "
                 f"(isinstance({left}, (str, list, dict)) and not {left}):")
        if kind == "and_expression":
            return [*first, false, f"    {var} = {left}", "else:", *second]
        return [*first, false, *second, "else:", f"    {var} = {left}"]
    compared = text_comparison(node)
    if compared is not None:
        other, text = writer.fresh("x"), writer.constant(compared[1])
        test = f"{other} == {text}" if node["value"] == "eq" else f"not {other} == {text}"
        return [*_part(writer, expr, compared[0], other), f"{var} = {test}"]
    closure = writer.bind(expr.compiled if node is expr.ast else compile_ast(node), "f")
    source = writer.bind(expr, "e")
    return ["try:", f"    {var} = {closure}(record, options)",
            "except _JMESPathError as exc:", f"    raise {source}.failure(exc) from exc"]


def _leaf(writer: _Writer, leaf: Leaf, var: str) -> list[str]:
    folded = _fold(leaf)
    if folded is not _MISS:
        return [f"{var} = {writer.constant(folded)}"]
    name = writer.bind(leaf.name, "n")
    if leaf.expr is not None:
        lines = _expression(writer, leaf.expr, var)
    else:
        lines = [f"{var} = {writer.constant(leaf.const)}"]
    if leaf.table is not None:
        key = writer.fresh("key")
        table = writer.bind(leaf.table, "t")
        other = writer.constant(leaf.table["*"]) if "*" in leaf.table else "_MISS"
        lines += [f"if {var} is not None:",
                  f"    {key} = {var} if type({var}) is str else _text_of({var})",
                  f"    {var} = {table}.get({key}, {other})"]
        if other == "_MISS":
            lines += [f"    if {var} is _MISS:",
                      f'        raise _MappingError(f"field {{{name}}}: no mapping for upstream '
                      f'value {{{key}!r}}", stage="map")']
    unchanged = _UNCHANGED.get(leaf.converter, "False").format(v=var)
    if unchanged != "True":
        convert = writer.bind(leaf.convert, "cv")
        fmt = writer.constant(leaf.fmt)
        lines += [f"if not ({unchanged}):", "    try:",
                  f"        {var} = {convert}({var}, zone, {fmt})",
                  "    except _ConversionError as exc:",
                  f'        raise _MappingError(f"field {{{name}}}: {{exc}}", stage="map") from None']
    if leaf.default is not None:
        lines += [f"if {var} is None:", f"    {var} = {writer.constant(leaf.default)}"]
    if leaf.kind == "direction":
        lines += [f"if {var} not in _DIRECTIONS:",
                  f'    raise _MappingError(f"field {{{name}}}: direction {{{var}!r}} is not '
                  f'inbound, outbound or null", stage="map")']
    elif leaf.kind == "media[]":
        lines.append(f"{var} = _media_list({var}, {name})")
    return lines


def _fold(leaf: Leaf) -> Any:
    """A constant leaf's value, when it is the same for every record and zone."""
    if leaf.expr is not None or leaf.converter == "datetime" or leaf.kind == "media[]":
        return _MISS
    try:
        value = leaf.apply(None, None, timezone.utc)
    except Exception:  # it fails per record instead, as the reference does
        return _MISS
    return value if type(value) in _FOLDABLE else _MISS
