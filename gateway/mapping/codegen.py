"""Each mapper generated as one Python function at load time.

`generate(resource, tree)` writes the source of one function `map(record, options, zone)`
that builds the canonical dict in one go, and one reader per top-level canonical field
(a walk that only sorts, filters or compares ids maps that field alone). Like
`dataclasses` and `namedtuple`, it compiles the text with `compile()` and `exec` in a
private namespace. What the generated code does, field by field (`nodes.Leaf.apply`, the
reference, says the same one step at a time):

- a plain field path (`a.b.c`) is read by `.get` once per function, each prefix once,
  at its top (a non-object on the way is null, as JMESPath has it); literals, `@`, `&&`,
  `||`, multi-selects and comparisons with a text or null are written out; any other
  form calls its compiled closure;
- parts that never read the record (`ctx()`, functions of literals) are computed once
  per page by `_bind(options, zone)`, which returns the per-record `_bound(record)`;
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
from .values import BOOLEAN_TEXT, ConversionError, iso_utc

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
    # One call's `map` with its request-constant values computed once; None when one of
    # them fails or is not a plain scalar (then `map` is the one to call, per record).
    bind: Callable[["jmespath.Options | None", tzinfo], Callable[[Any], dict[str, Any]] | None]


class _Writer:
    """The namespace the generated source runs in, and fresh names for it. While `hoisted`
    is a list, expressions that do not read the record are written there instead (the
    lines `bind` runs once) and read from their local name per record."""

    def __init__(self, resource: str) -> None:
        self.count = 0
        self.hoisted: list[str] | None = None
        self.constants: list[str] = []
        # The function being written reads each field path (and its prefixes) once, at
        # its top: path -> local name, and the lines that read them.
        self.paths: dict[tuple[str, ...], str] = {}
        self.reads: list[str] = []
        self.ns: dict[str, Any] = {
            "__builtins__": {"type": type, "str": str, "bool": bool, "list": list, "dict": dict,
                             "isinstance": isinstance, "AttributeError": AttributeError,
                             "int": int, "Exception": Exception},
            "_MappingError": MappingError, "_ConversionError": ConversionError,
            "_JMESPathError": JMESPathError, "_text_of": text_of, "_truthy": truthy,
            "_media_list": media_list, "_DIRECTIONS": DIRECTIONS, "_MISS": _MISS,
            "_no_id": no_id, "_resource": resource, "_iso_utc": iso_utc,
            "_FOLDABLE": _FOLDABLE, "_no_get": _no_get, "_BOOLEAN_TEXT": BOOLEAN_TEXT,
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
    lines = ["def _map(record, options, zone):", *_indent(_body(writer, tree))]
    lines += ["", *_bind(writer, tree)]
    readers: dict[str, str] = {}
    for name, node in tree.items():
        function = readers[name] = writer.fresh("_read")
        lines += ["", f"def {function}(record, options, zone):"]
        lines += _indent(_reading(writer, _node(writer, node, "value")))
        if name == "id":
            lines += ['    if value in (None, ""):', "        raise _no_id(_resource)"]
        lines.append("    return value")
    source = "\n".join(lines) + "\n"
    exec(compile(source, f"<generated mapper of a {resource}>", "exec"), writer.ns)
    return Generated(writer.ns["_map"], {name: writer.ns[fn] for name, fn in readers.items()},
                     source, writer.ns["_bind"])


def _body(writer: _Writer, tree: dict[str, Any]) -> list[str]:
    lines = _tree(writer, tree, "out")
    lines[-1:-1] = ["if v_id in (None, ''):", "    raise _no_id(_resource)"]
    return _reading(writer, [*lines, "return out"])


def _reading(writer: _Writer, body: list[str]) -> list[str]:
    """`body` after the reads of every field path it uses (pure lookups: reading one the
    body's branches then skip changes nothing), which starts the next function afresh."""
    reads = writer.reads
    writer.paths, writer.reads = {}, []
    return [*_GET, *reads, *body]


def _read_path(writer: _Writer, keys: tuple[str, ...]) -> str:
    """The local holding the record's `keys` path (null past a non-object, as JMESPath
    has it), each prefix read once per function."""
    for end in range(1, len(keys) + 1):
        if keys[:end] not in writer.paths:
            local = writer.paths[keys[:end]] = writer.fresh("p")
            key = writer.key(keys[end - 1])
            source = "get" if end == 1 else f"{writer.paths[keys[:end - 1]]}.get"
            writer.reads += ["try:", f"    {local} = {source}({key})",
                             "except AttributeError:", f"    {local} = None"]
    return writer.paths[keys]


# Each function reads the record's keys through `get`, looked up once: a record that is no
# object has none (`_no_get`), as `record.get(...)` failing would say.
_GET = ["try:", "    get = record.get", "except AttributeError:", "    get = _no_get"]


def _bind(writer: _Writer, tree: dict[str, Any]) -> list[str]:
    """`_bind(options, zone)`: the request-constant parts computed once, then `_bound(record)`,
    the body of `_map` reading them. A constant that fails, or is not a plain scalar (a
    fresh list or dict per record in the reference), leaves the call to `_map` (None)."""
    writer.hoisted, writer.constants = [], []
    body = _body(writer, tree)
    hoisted, names = writer.hoisted, writer.constants
    writer.hoisted = None
    lines = ["def _bind(options, zone):"]
    if names:
        check = " or ".join(f"type({name}) not in _FOLDABLE" for name in names)
        lines += ["    record = None", "    try:", *_indent(_indent(hoisted)),
                  "    except Exception:", "        return None",
                  f"    if {check}:", "        return None"]
    return [*lines, "    def _bound(record):", *_indent(_indent(body)), "    return _bound"]


def _no_get(key: Any) -> None:
    return None


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
        local = "v_id" if var == "out" and name == "id" else writer.fresh("v")
        lines += _node(writer, node, local)
        items.append(f"{_field_name(name)}: {local}")
    if var == "out" and "id" not in tree:
        lines.append("v_id = None")
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
    `||`, comparisons with a text or null and multi-selects written out; any other form
    calls its closure (a JMESPath error in it fails the whole expression, as `search`
    has it). What does not read the record is hoisted while `writer.hoisted` is on."""
    hoisted = writer.hoisted
    if hoisted is not None and node["type"] != "literal" and _constant(node):
        name = writer.fresh("h")
        writer.hoisted = None  # the hoisted lines themselves compute it
        hoisted += _part(writer, expr, node, name)
        writer.hoisted = hoisted
        writer.constants.append(name)
        return [f"{var} = {name}"]
    keys = field_path(node)
    if keys is not None:
        return [f"{var} = {_read_path(writer, keys)}"]
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
    if kind in ("multi_select_list", "multi_select_dict"):
        return _select(writer, expr, node, var)
    return _closure(writer, expr, node, var)


def _closure(writer: _Writer, expr: Expression, node: dict[str, Any], var: str) -> list[str]:
    closure = writer.bind(expr.compiled if node is expr.ast else compile_ast(node), "f")
    source = writer.bind(expr, "e")
    return ["try:", f"    {var} = {closure}(record, options)",
            "except _JMESPathError as exc:", f"    raise {source}.failure(exc) from exc"]


def _select(writer: _Writer, expr: Expression, node: dict[str, Any], var: str) -> list[str]:
    """`[a, b]` or `{k: a}` over the record, built in place (null over a null record, as
    JMESPath has it); a hash goes through its closure when the options ask for another
    dict class."""
    parts: list[str] = []
    items = []
    hashed = node["type"] == "multi_select_dict"
    for child in node["children"]:
        local = writer.fresh("s")
        parts += _part(writer, expr, child["children"][0] if hashed else child, local)
        items.append(f"{writer.key(child['value'])}: {local}" if hashed else local)
    built = f"{{{', '.join(items)}}}" if hashed else f"[{', '.join(items)}]"
    lines = ["if record is None:", f"    {var} = None"]
    if hashed:
        lines += ["elif options is not None and options.dict_cls is not None:",
                  *_indent(_closure(writer, expr, node, var))]
    return [*lines, "else:", *_indent(parts), f"    {var} = {built}"]


def _constant(node: dict[str, Any]) -> bool:
    """Whether a part of an expression never reads the record: literals, and functions
    (`ctx()` reads the call's context), comparisons and logic over them, and what a pipe
    or `.` applies to such a value."""
    kind = node["type"]
    if kind == "literal":
        return True
    if kind in ("subexpression", "pipe", "index_expression"):
        return _constant(node["children"][0])
    if kind in _OVER_CHILDREN:
        return all(_constant(child) for child in node["children"])
    return False


_OVER_CHILDREN = {"function_expression", "comparator", "and_expression", "or_expression",
                  "not_expression"}


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
    lines += _convert(writer, leaf, var, name)
    if leaf.default is not None:
        lines += [f"if {var} is None:", f"    {var} = {writer.constant(leaf.default)}"]
    if leaf.kind == "direction":
        lines += [f"if {var} not in _DIRECTIONS:",
                  f'    raise _MappingError(f"field {{{name}}}: direction {{{var}!r}} is not '
                  f'inbound, outbound or null", stage="map")']
    elif leaf.kind == "media[]":
        lines.append(f"{var} = _media_list({var}, {name}) if {var} else []")
    return lines


def _convert(writer: _Writer, leaf: Leaf, var: str, name: str) -> list[str]:
    """The leaf's converter, called only when the value is not already what it returns;
    an `int` as text, the usual texts as booleans and ISO dates (values.iso_utc) are
    converted in place."""
    unchanged = _UNCHANGED.get(leaf.converter, "False").format(v=var)
    if unchanged == "True":
        return []
    convert = writer.bind(leaf.convert, "cv")
    fmt = writer.constant(leaf.fmt)
    call = ["try:", f"    {var} = {convert}({var}, zone, {fmt})",
            "except _ConversionError as exc:",
            f'    raise _MappingError(f"field {{{name}}}: {{exc}}", stage="map") from None']
    if leaf.converter == "string":
        return [f"if type({var}) is int:", f"    {var} = str({var})",
                f"elif not ({unchanged}):", *_indent(call)]
    if leaf.converter == "boolean":
        return [f"if type({var}) is str and {var} in _BOOLEAN_TEXT:",
                f"    {var} = _BOOLEAN_TEXT[{var}]",
                f"elif not ({unchanged}):", *_indent(call)]
    if leaf.converter == "datetime" and leaf.fmt is None:
        fast = writer.fresh("iso")
        return [f"if not ({unchanged}):",
                f"    {fast} = _iso_utc({var}, zone) if type({var}) is str else None",
                f"    if {fast} is None:", *_indent(_indent(call)),
                "    else:", f"        {var} = {fast}"]
    return [f"if not ({unchanged}):", *_indent(call)]


def _fold(leaf: Leaf) -> Any:
    """A constant leaf's value, when it is the same for every record and zone."""
    if leaf.expr is not None or leaf.converter == "datetime" or leaf.kind == "media[]":
        return _MISS
    try:
        value = leaf.apply(None, None, timezone.utc)
    except Exception:  # it fails per record instead, as the reference does
        return _MISS
    return value if type(value) in _FOLDABLE else _MISS
