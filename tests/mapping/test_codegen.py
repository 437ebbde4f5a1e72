"""The generated mappers equal the reference (the field tree walked node by node).

For every shipped mapping's every mapper, Hypothesis builds records from the keys the
mapping reads (and values its tables and dates expect, wrong types, nulls, non-objects
on the way), and the generated `map` and each field's `reader` must give the same
result as `map_reference` — the same dict (same types, same key order) or the same
exception with the same message and stage. Data a mapping holds stays data.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jmespath
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.canonical import OPERATIONS
from gateway.errors import MappingError
from gateway.mapping.expressions import options_for
from gateway.mapping.fields import ResourceMapper
from gateway.mapping.nodes import Leaf, ObjectField, apply_node, no_id
from tests.conftest import ROOT

ZONE = ZoneInfo("Europe/Kyiv")
CONTEXT = {"chat_id": "C1", "message_id": "M1", "query": {}, "body": {"text": "hi"},
           "vars": {}, "steps": {"chat": {"contact": {"id": "K"}}}}
DATES = ["2024-02-19T01:21:12.3456786+01:00", "2023-12-30T02:30:00+0100",
         "2024-03-31 04:30:00", "2024-03-31T03:30:00Z", "2024-01-01", "not a date", "",
         "2024-10-27T03:30:00", "0999-01-01T00:00:00+05:30"]


def _error_at(path: tuple[Any, ...], message: str) -> Exception:
    return ValueError(path, message)


def _mappers() -> list[tuple[str, ResourceMapper]]:
    found = []
    for path in sorted((ROOT / "mappings").glob("*.yaml")):
        data = yaml.safe_load(path.read_text())
        for name, operation in (data.get("operations") or {}).items():
            fields = (operation.get("response") or {}).get("fields")
            resource = OPERATIONS[name].resource
            if fields is not None and resource is not None:
                found.append((f"{Path(path).stem}.{name}",
                              ResourceMapper(resource, fields, _error_at, ())))
    return found


MAPPERS = _mappers()


def _keys_and_texts(tree: dict[str, Any]) -> tuple[set[str], set[str]]:
    keys: set[str] = set()
    texts: set[str] = set()

    def walk_ast(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "field":
                keys.add(node["value"])
            if node.get("type") == "literal" and isinstance(node.get("value"), str):
                texts.add(node["value"])
            for child in node.get("children", []):
                walk_ast(child)

    def walk(tree: dict[str, Any]) -> None:
        for node in tree.values():
            if isinstance(node, Leaf):
                if node.expr is not None:
                    walk_ast(node.expr.ast)
                texts.update(node.table or ())
            elif isinstance(node, ObjectField):
                if node.when is not None:
                    walk_ast(node.when.ast)
                walk(node.tree)
    walk(tree)
    return keys, texts


def _records(mapper: ResourceMapper) -> st.SearchStrategy[Any]:
    keys, texts = _keys_and_texts(mapper._tree)
    scalars = st.one_of(
        st.none(), st.booleans(), st.sampled_from([0, 1, -1, 2**60, 10**20]), st.integers(),
        st.floats(allow_nan=False), st.sampled_from([1.0, 0.0, 2.5, 1e300]),
        st.sampled_from(sorted(texts) + DATES + ["true", "false", "1", "0", "yes", "x"]),
        st.text(max_size=5))
    values = st.recursive(
        scalars,
        lambda inner: st.one_of(st.lists(inner, max_size=3),
                                st.dictionaries(st.sampled_from(sorted(keys) + ["url", "type"]),
                                                inner, max_size=4)),
        max_leaves=12)
    record = st.dictionaries(st.sampled_from(sorted(keys) or ["id"]), values, max_size=len(keys) + 1)
    return st.one_of(record, record, record, scalars, st.lists(scalars, max_size=2))


def _outcome(function: Any, *args: Any) -> tuple[Any, ...]:
    try:
        return ("ok", repr(function(*args)))
    except MappingError as exc:
        return ("mapping", str(exc), exc.stage)
    except Exception as exc:  # the reference's other failures must be the same ones
        return (type(exc).__name__, str(exc))


def _read_reference(mapper: ResourceMapper, name: str, record: Any) -> Any:
    value = apply_node(mapper._tree[name], record, options_for(CONTEXT), ZONE)
    if name == "id" and value in (None, ""):
        raise no_id(mapper.resource)
    return value


@pytest.mark.parametrize("label,mapper", MAPPERS, ids=[label for label, _ in MAPPERS])
@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_generated_mapper_equals_the_reference(label, mapper, data):
    record = data.draw(_records(mapper))
    options = options_for(CONTEXT)
    expected = _outcome(mapper.map_reference, record, options, ZONE)
    assert _outcome(mapper.map, record, options, ZONE) == expected
    assert _outcome(mapper.bind(options, ZONE), record) == expected
    for name in mapper._tree:
        assert (_outcome(mapper.reader(name), record, options, ZONE)  # type: ignore[arg-type]
                == _outcome(_read_reference, mapper, name, record)), name


MESSAGE_FIELDS = {
    "id": "id",
    "text": {"from": "t", "as": "string"},
    "direction": {"from": "d", "map": {"in": "inbound", "out": "outbound", "bad": "sideways"}},
    "sender": {"when": "s", "id": "s.id", "name": {"from": "s.name", "default": "?"}},
    "sent_at": {"from": "at", "as": "epoch_s"},
    "read": "r",
    "media": "m",
    "type": {"const": "text"},
}


@pytest.mark.parametrize("record,message", [
    ({"text": "x"}, "the upstream message has no id"),
    ({"id": ""}, "the upstream message has no id"),
    ({"id": "1", "t": {"a": 1}}, "field text: expected a scalar, got dict"),
    ({"id": "1", "d": "up"}, "field direction: no mapping for upstream value 'up'"),
    ({"id": "1", "d": "bad"}, "field direction: direction 'sideways' is not inbound, outbound or null"),
    ({"id": "1", "at": "soon"}, "field sent_at: not an epoch timestamp: 'soon'"),
    ({"id": "1", "r": "perhaps"}, "field read: not a boolean: 'perhaps'"),
    ({"id": "1", "m": [{"no": "url"}]}, "field media: a media item needs a url, got {'no': 'url'}"),
    ({"id": "1", "s": {"id": []}}, "field sender.id: expected a scalar, got list"),
], ids=["no-id", "blank-id", "text-dict", "unmapped", "direction", "epoch", "boolean", "media",
        "nested"])
def test_failures_read_as_they_always_did(record, message):
    mapper = ResourceMapper("message", MESSAGE_FIELDS, _error_at, ())
    bound = mapper.bind(options_for(CONTEXT), ZONE)
    for mapping in (mapper.map, mapper.map_reference, lambda r, *_: bound(r)):
        with pytest.raises(MappingError) as caught:
            mapping(record, options_for(CONTEXT), ZONE)
        assert str(caught.value) == message and caught.value.stage == "map"


@pytest.mark.parametrize("fields", [
    {"chat_id": "ctx('chat_id')", "text": "ctx('body.text')"},
    {"text": "ctx('body')"},                                    # a dict: fails per record
    {"text": {"from": "ctx('steps.chat')", "as": "any"}},       # not a scalar: not shared
    {"text": "ctx(`1`)"},                                       # JMESPath's own error
    {"text": "ctx('nothing.here')", "type": "ctx('message_id')"},
    {"direction": "ctx('chat_id') == 'C1' && 'inbound' || 'outbound'"},
    {"direction": "ctx('chat_id') == 'C2' && 'inbound' || d"},
    {"direction": {"from": "ctx('body.text')", "map": {"hi": "sideways"}}},
    {"sender": {"when": "ctx('steps.chat.contact')", "id": "ctx('steps.chat.contact.id')",
                "name": "s.name"}},
    {"sent_at": {"from": "join('', [ctx('chat_id'), '9'])", "as": "epoch_s"}},
], ids=["scalars", "dict", "any", "jmespath-error", "nulls", "logic", "logic-and-record",
        "table", "object", "function"])
def test_request_constants_computed_once_map_as_the_reference(fields):
    mapper = ResourceMapper("message", {"id": "id", **fields}, _error_at, ())
    options = options_for(CONTEXT)
    bound = mapper.bind(options, ZONE)
    for record in ({"id": "1", "d": "inbound", "s": {"name": "N"}}, {"id": 2}, {}, [], None):
        assert _outcome(bound, record) == _outcome(mapper.map_reference, record, options, ZONE)


@pytest.mark.parametrize("value", ["true", "1", "yes", "y", "on", "false", "0", "no", "n",
                                   "off", "", " 1", "TRUE", "No", "482", "maybe", 1, 0, 2.5,
                                   True, None, 49077, -1])
def test_values_converted_in_place_read_as_their_converters_read_them(value):
    fields = {"id": "id", "read": "v", "text": "v", "chat_id": {"from": "v", "as": "integer"}}
    mapper = ResourceMapper("message", fields, _error_at, ())
    options = options_for(CONTEXT)
    for record in ({"id": "1", "v": value}, {"id": "1", "v": [value]}):
        expected = _outcome(mapper.map_reference, record, options, ZONE)
        assert _outcome(mapper.map, record, options, ZONE) == expected
        assert _outcome(mapper.bind(options, ZONE), record) == expected


@pytest.mark.parametrize("dict_cls", [None, OrderedDict])
def test_multi_selects_written_out_read_as_jmespath_reads_them(dict_cls):
    fields = {"id": {"const": "k"}, "text": {"from": "{a: a, b: [b, `1`, a.x], a: b}", "as": "any"},
              "media": "a && [{url: a, type: b == 'p' && 'image' || b}] || `[]`"}
    mapper = ResourceMapper("message", fields, _error_at, ())
    options = jmespath.Options(dict_cls=dict_cls, custom_functions=options_for(CONTEXT).custom_functions)
    for record in ({"id": "1", "a": "u", "b": "p"}, {"id": "1", "a": {"x": 2}}, {"id": "1"},
                   {"id": "1", "a": "u", "b": {}}, None, [1]):
        expected = _outcome(mapper.map_reference, record, options, ZONE)
        assert _outcome(mapper.map, record, options, ZONE) == expected
        assert _outcome(mapper.bind(options, ZONE), record) == expected


def test_a_bound_mapper_shares_no_fresh_object_between_records():
    mapper = ResourceMapper("message", {"id": "id", "text": {"from": "to_array(ctx('chat_id'))", "as": "any"}},
                            _error_at, ())
    bound = mapper.bind(options_for(CONTEXT), ZONE)
    first, second = bound({"id": "1"}), bound({"id": "2"})
    assert first["text"] == second["text"] == ["C1"] and first["text"] is not second["text"]


def test_a_bound_mapper_reads_the_context_once():
    mapper = ResourceMapper("message", {"id": "id", "chat_id": "ctx('chat_id')"}, _error_at, ())
    context = dict(CONTEXT)
    bound = mapper.bind(options_for(context), ZONE)
    context["chat_id"] = "changed"
    assert bound({"id": "1"})["chat_id"] == "C1"
    assert mapper.map({"id": "1"}, options_for(context), ZONE)["chat_id"] == "changed"


HOSTILE = ["'\"); __import__('os').system('false') #", "a\nb", "\\", "}{", "__import__",
           "\u2028x", "' + str(1) + '"]


@pytest.mark.parametrize("text", HOSTILE)
def test_keys_and_values_a_mapping_holds_stay_data(text):
    quoted = '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    fields = {"id": quoted,
              "text": {"const": text},
              "type": {"from": f"k.{quoted}", "map": {text: text, "*": f"other {text}"}},
              "chat_id": {"from": "c", "default": text},
              "sender": {"when": quoted, "id": quoted, "name": {"const": text}}}
    mapper = ResourceMapper("message", fields, _error_at, ())
    record = {text: text, "k": {text: text}, "c": None}
    out = mapper.map(record, options_for(CONTEXT), ZONE)
    assert out == mapper.map_reference(record, options_for(CONTEXT), ZONE)
    assert out["id"] == out["text"] == out["type"] == out["chat_id"] == text
    assert out["sender"] == {"id": text, "name": text}
    # Only a plain identifier key is written out, as its repr(): a string literal.
    assert text not in mapper.source.replace(repr(text), "")
    assert "__import__(" not in mapper.source
