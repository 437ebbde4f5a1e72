"""Compiled expressions answer exactly what JMESPath's interpreter answers."""

from __future__ import annotations

import jmespath
import jmespath.exceptions
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.errors import MappingError
from gateway.mapping.compiled import RequestOptions
from gateway.mapping.expressions import Expression, options_for
from gateway.mapping.functions import MappingFunctions

# The shipped mappings' forms, JMESPath's quirks (0 vs false, !0, ordering between
# types), and forms left to the interpreter (projections, filters, slices, &expr).
EXPRESSIONS = [
    "a", "a.b", "a.b.c", "@", "a[0]", "a[-1].b", "a.b[1].c", "a | b", "`[]`", "'text'", "`0`",
    "a == b", "a != b", "a == `0`", "a == `false`", "a != `null`", "a.b != ''", "a > `0`",
    "a < b", "a >= 'm'", "b <= a.b", "!a", "!a.b", "a && b", "a || b",
    "a == 'x' && 'y' || 'z'", "a.b && [{url: a.b, type: `null`}] || `[]`", "[a, b.c]",
    "{x: a, y: b.c}", "a[*].b", "a[?b > `1`]", "a[1:]", "*.b", "a[]", "length(a)",
    "to_string(a)", "to_number(b)", "join(',', a)", "sort_by(a, &b)", "ctx('chat_id')",
    "ctx('query.q')", "ctx('steps.x.y[0]')", "ctx('nope')", "to_string(a) == ctx('chat_id')",
    "length(a || `[]`) > `0`", "lower(a)", "if(a, 'y', 'n')", "coalesce(a, b, 'c')",
    "parse_json(a).b", "a.b.c.d.e", "b.a[0][1]",
]
CONTEXT = {"chat_id": "7", "query": {"q": "hi"}, "steps": {"x": {"y": [1, 2]}}}
_LEAVES = (st.none() | st.booleans() | st.integers(-3, 3) | st.floats(allow_nan=False)
           | st.sampled_from(["", "x", "7", "m", '{"b": 1}', "z"]))
_KEYS = st.sampled_from(["a", "b", "c", "d", "e", "y"])
_DATA = st.recursive(_LEAVES, lambda inner: st.lists(inner, max_size=3)
                     | st.dictionaries(_KEYS, inner, max_size=4), max_leaves=12)


def _reference(source, data):
    options = jmespath.Options(custom_functions=MappingFunctions(CONTEXT))
    try:
        return "ok", jmespath.search(source, data, options=options)
    except jmespath.exceptions.JMESPathError:
        return "jmespath-error", None
    except Exception as exc:  # e.g. a TypeError from 'a' < 1, or a failed parse_json
        return type(exc).__name__, None


def _compiled(source, data):
    try:
        return "ok", Expression(source).search(data, options_for(CONTEXT))
    except MappingError as exc:
        return ("jmespath-error" if isinstance(exc.__cause__, jmespath.exceptions.JMESPathError)
                else "MappingError"), None
    except Exception as exc:
        return type(exc).__name__, None


@pytest.mark.parametrize("source", EXPRESSIONS)
@settings(max_examples=60, deadline=None)
@given(data=_DATA)
def test_compiled_expression_matches_the_interpreter(source, data):
    expected = _reference(source, data)
    got = _compiled(source, data)
    assert got == expected
    assert type(got[1]) is type(expected[1])  # 1 is not True, 0.0 is not 0


def test_one_interpreter_serves_every_expression_of_a_call():
    options = options_for(CONTEXT)
    assert isinstance(options, RequestOptions)
    interpreter = options.interpreter
    assert Expression("a[*].b").search({"a": [{"b": 1}]}, options) == [1]
    assert Expression("a[?b].b").search({"a": [{"b": 2}]}, options) == [2]
    assert options.interpreter is interpreter


def test_expressions_without_options_still_evaluate():
    assert Expression("a[?b > `1`].b").search({"a": [{"b": 1}, {"b": 2}]}) == [2]
    assert Expression("length(a)").search({"a": [1, 2]}) == 2
    with pytest.raises(MappingError):
        Expression("ctx('x')").search({})


@pytest.mark.parametrize("source,data", [
    ("!a", {"a": 0}), ("!a", {"a": 0.0}), ("!a", {"a": []}), ("a == `0`", {"a": False}),
    ("a != `1`", {"a": True}), ("a < b", {"a": 1, "b": "x"}), ("a < b", {"a": True, "b": 2}),
    ("a && b", {"a": 0, "b": 1}), ("a || b", {"a": [], "b": 2}), ("a || b", {"a": {}, "b": 2}),
    ("a[5]", {"a": [1]}), ("a.b", {"a": "text"}), ("{x: a}", None), ("ctx('query.q')", {}),
], ids=repr)
def test_jmespath_quirks_are_kept(source, data):
    assert _compiled(source, data) == _reference(source, data)
