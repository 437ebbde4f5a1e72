"""JMESPath compiled at load time into plain Python closures.

`compile_ast(parsed)` turns a parsed JMESPath expression into one closure
`(value, options) -> result` built from the forms mappings use: field paths, `@`,
literals, indexes, comparisons, `&&`, `||`, `!`, pipes, multi-select lists and hashes, and
function calls (arguments compiled; the call goes through the call's `Functions`, so
every signature check and error is JMESPath's own). `ctx('a.b')` with a plain path reads
the call's context directly. Every other form (projections, filters, slices, `&expr`) is
evaluated by JMESPath's interpreter — the one `RequestOptions` holds for the whole call,
not a new one per evaluation. Results are JMESPath's, quirk for quirk (`0 == false` is
false, `!0` is false, ordering only between numbers or strings).
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any, cast

import jmespath
import jmespath.exceptions
from jmespath import functions as jmespath_functions
from jmespath.visitor import (  # type: ignore[attr-defined]  # private, absent from the stubs
    TreeInterpreter, _equals, _is_actual_number, _is_comparable)

from .functions import truthy

__all__ = ["Compiled", "RequestOptions", "compile_ast", "field_path", "text_comparison"]

Compiled = Callable[[Any, "jmespath.Options | None"], Any]
_ORDERING = {"lt": operator.lt, "gt": operator.gt, "lte": operator.le, "gte": operator.ge}


class RequestOptions(jmespath.Options):
    """One call's JMESPath options and the one interpreter every expression shares."""

    def __init__(self, custom_functions: jmespath_functions.Functions) -> None:
        super().__init__(custom_functions=custom_functions)
        self.interpreter = TreeInterpreter(self)


def compile_ast(node: dict[str, Any]) -> Compiled:
    build = _BUILDERS.get(node["type"])
    return build(node) if build is not None else _interpreted(node)


def field_path(node: dict[str, Any]) -> tuple[str, ...] | None:
    """The keys of an expression that is only field access (`a`, `a.b`), None otherwise."""
    if node["type"] == "field":
        return (node["value"],)
    if node["type"] == "subexpression":
        keys: tuple[str, ...] = ()
        for child in node["children"]:
            part = field_path(child)
            if part is None:
                return None
            keys += part
        return keys
    return None


def _interpreter(options: jmespath.Options | None) -> TreeInterpreter:
    if isinstance(options, RequestOptions):
        return options.interpreter
    return TreeInterpreter(options)


def _functions(options: jmespath.Options | None) -> jmespath_functions.Functions:
    if options is not None and options.custom_functions is not None:
        return options.custom_functions
    return jmespath_functions.Functions()


def _interpreted(node: dict[str, Any]) -> Compiled:
    return lambda value, options: _interpreter(options).visit(node, value)  # type: ignore[arg-type]


def _path(keys: tuple[str, ...]) -> Compiled:
    if len(keys) == 1:
        key = keys[0]

        def one(value: Any, options: Any) -> Any:
            try:
                return value.get(key)
            except AttributeError:
                return None
        return one

    def path(value: Any, options: Any) -> Any:
        for key in keys:
            try:
                value = value.get(key)
            except AttributeError:
                return None
        return value
    return path


def _field(node: dict[str, Any]) -> Compiled:
    return _path((node["value"],))


def _chain(node: dict[str, Any]) -> Compiled:
    keys = field_path(node) if node["type"] == "subexpression" else None
    if keys is not None:
        return _path(keys)
    steps = [compile_ast(child) for child in node["children"]]

    def chain(value: Any, options: Any) -> Any:
        for step in steps:
            value = step(value, options)
        return value
    return chain


def _current(node: dict[str, Any]) -> Compiled:
    return lambda value, options: value


def _literal(node: dict[str, Any]) -> Compiled:
    constant = node["value"]
    return lambda value, options: constant


def _index(node: dict[str, Any]) -> Compiled:
    position = node["value"]

    def index(value: Any, options: Any) -> Any:
        if not isinstance(value, list):
            return None
        try:
            return value[position]
        except IndexError:
            return None
    return index


def _comparator(node: dict[str, Any]) -> Compiled:
    left, right = (compile_ast(child) for child in node["children"])
    op = node["value"]
    plain = _against_text(node)
    if plain is not None:
        return plain
    if op == "eq":
        return lambda value, options: _equals(left(value, options), right(value, options))
    if op == "ne":
        return lambda value, options: not _equals(left(value, options), right(value, options))
    compare = _ORDERING[op]

    def ordering(value: Any, options: Any) -> Any:
        a, b = left(value, options), right(value, options)
        if not (_is_comparable(a) and _is_comparable(b)):
            return None
        return compare(a, b)
    return ordering


def text_comparison(node: dict[str, Any]) -> tuple[dict[str, Any], str | None] | None:
    """`x == 'text'` or `x != null` as (x, the text or None): JMESPath's number-versus-
    boolean rule cannot apply to them, so Python's `==` is its equality. None otherwise."""
    if node["type"] != "comparator" or node["value"] not in ("eq", "ne"):
        return None
    first, second = node["children"]
    if second["type"] != "literal":
        first, second = second, first
    if second["type"] != "literal" or not isinstance(second["value"], (str, type(None))):
        return None
    return first, second["value"]


def _against_text(node: dict[str, Any]) -> Compiled | None:
    compared = text_comparison(node)
    if compared is None:
        return None
    other, constant = compile_ast(compared[0]), compared[1]
    if node["value"] == "eq":
        return lambda value, options: other(value, options) == constant
    return lambda value, options: not other(value, options) == constant


def _and(node: dict[str, Any]) -> Compiled:
    left, right = (compile_ast(child) for child in node["children"])

    def both(value: Any, options: Any) -> Any:
        matched = left(value, options)
        return right(value, options) if truthy(matched) else matched
    return both


def _or(node: dict[str, Any]) -> Compiled:
    left, right = (compile_ast(child) for child in node["children"])

    def either(value: Any, options: Any) -> Any:
        matched = left(value, options)
        return matched if truthy(matched) else right(value, options)
    return either


def _not(node: dict[str, Any]) -> Compiled:
    (inner,) = (compile_ast(child) for child in node["children"])

    def negation(value: Any, options: Any) -> Any:
        result = inner(value, options)
        if _is_actual_number(result) and result == 0:
            return False  # JMESPath: !0 is false
        return not result
    return negation


def _multi_select_dict(node: dict[str, Any]) -> Compiled:
    pairs = [(child["value"], compile_ast(child["children"][0])) for child in node["children"]]

    def select(value: Any, options: Any) -> Any:
        if value is None:
            return None
        make = (options.dict_cls if options is not None else None) or dict
        out: Any = make()
        for key, get in pairs:
            out[key] = get(value, options)
        return out
    return select


def _multi_select_list(node: dict[str, Any]) -> Compiled:
    items = [compile_ast(child) for child in node["children"]]
    return lambda value, options: (None if value is None
                                   else [get(value, options) for get in items])


def _function(node: dict[str, Any]) -> Compiled:
    children = node["children"]
    if any(child["type"] == "expref" for child in children):
        return _interpreted(node)  # sort_by(@, &x) and friends
    name = node["value"]
    if name == "ctx" and len(children) == 1 and children[0]["type"] == "literal":
        fast = _context_path(children[0]["value"])
        if fast is not None:
            return fast
    args = [compile_ast(child) for child in children]
    return lambda value, options: _functions(options).call_function(
        name, [arg(value, options) for arg in args])


def _context_path(path: Any) -> Compiled | None:
    """`ctx('a.b')`: the path read from the call's context, as `ctx` itself does."""
    if not isinstance(path, str):
        return None
    try:
        keys = field_path(cast(dict[str, Any], jmespath.compile(path).parsed))
    except jmespath.exceptions.JMESPathError:
        return None
    if keys is None:
        return None
    read = _path(keys)
    call = _function_call("ctx", path)

    def context(value: Any, options: Any) -> Any:
        functions = options.custom_functions if options is not None else None
        source = getattr(functions, "context", None)
        if source is None:  # no ctx() here: let JMESPath say so
            return call(value, options)
        return read(source, options)
    return context


def _function_call(name: str, argument: Any) -> Compiled:
    return lambda value, options: _functions(options).call_function(name, [argument])


_BUILDERS: dict[str, Callable[[dict[str, Any]], Compiled]] = {
    "field": _field,
    "subexpression": _chain,
    "index_expression": _chain,
    "pipe": _chain,
    "current": _current,
    "identity": _current,
    "literal": _literal,
    "index": _index,
    "comparator": _comparator,
    "and_expression": _and,
    "or_expression": _or,
    "not_expression": _not,
    "multi_select_dict": _multi_select_dict,
    "multi_select_list": _multi_select_list,
    "function_expression": _function,
}
