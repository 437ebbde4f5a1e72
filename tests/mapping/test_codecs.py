"""Codecs: safe XML, list declarations, namespaces, attributes, nil; encoders."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from gateway.errors import MappingError
from gateway.mapping.codecs import decode_body, decode_json, decode_xml, encode_form, encode_xml

BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]><object>&lol3;</object>"""
XXE = b"""<?xml version="1.0"?><!DOCTYPE o [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<object><status>&x;</status></object>"""


@pytest.mark.parametrize("body", [BOMB, XXE], ids=["billion-laughs", "external-entity"])
def test_dangerous_xml_is_refused(body):
    with pytest.raises(MappingError) as caught:
        decode_xml(body)
    assert caught.value.stage == "decode"


def test_one_row_and_many_rows_read_the_same_when_declared():
    one = decode_xml(b"<object><status>1</status><data><id>1</id></data></object>", ["data"])
    many = decode_xml(b"<object><data><id>1</id></data><data><id>2</id></data></object>", ["data"])
    assert one == {"status": "1", "data": [{"id": "1"}]}
    assert many == {"data": [{"id": "1"}, {"id": "2"}]}
    assert decode_xml(b"<object><data><id>1</id></data></object>") == {"data": {"id": "1"}}


def test_namespaces_attributes_and_nil():
    body = (b'<ArrayOfChatMessage xmlns="http://x" xmlns:i="http://www.w3.org/2001/'
            b'XMLSchema-instance"><ChatMessage kind="a"><Id>1</Id><P i:nil="true"/>'
            b'</ChatMessage></ArrayOfChatMessage>')
    assert decode_xml(body, ["ChatMessage"]) == {
        "ChatMessage": [{"@kind": "a", "Id": "1", "P": None}]}
    prefixed = b'<a:Root xmlns:a="urn:a"><a:Name>x</a:Name></a:Root>'
    assert decode_xml(prefixed) == {"Name": "x"}


@pytest.mark.parametrize("body,content_type,expected", [
    (b'{"a": 1}', "application/json", "json"),
    (b"<r><a>1</a></r>", "text/xml; charset=utf-8", "xml"),
    (b"<r><a>1</a></r>", "text/plain", "xml"),  # unknown type: the mapping's format
], ids=["json", "xml", "fallback"])
def test_decode_by_content_type_then_expectation(body, content_type, expected):
    value = decode_body(body, content_type, "xml")
    assert value == ({"a": 1} if expected == "json" else {"a": "1"})


@pytest.mark.parametrize("body", [b"{", b"<r><a>", b"\xff\xfe"], ids=["json", "xml", "bytes"])
def test_unreadable_bodies_are_mapping_errors_never_empty(body):
    with pytest.raises(MappingError):
        (decode_json if body.startswith(b"{") or body.startswith(b"\xff") else decode_xml)(body)


def test_empty_body_is_none():
    assert decode_body(b"  ", "application/json", "json") is None


def test_xml_encoder_writes_data_contract_shape():
    data, content_type = encode_xml({"Message": "a < b & c", "SpecialParam": None, "Tags": ["x", "y"]},
                                    root="ChatMessage", namespace="urn:ns")
    assert content_type == "application/xml"
    root = etree.fromstring(data)
    assert root.tag == "{urn:ns}ChatMessage"
    assert [etree.QName(e).localname for e in root] == ["Message", "SpecialParam", "Tags", "Tags"]
    assert root[0].text == "a < b & c"
    assert root[1].get("{http://www.w3.org/2001/XMLSchema-instance}nil") == "true"


def test_form_encoder():
    assert encode_form({"with_id": 49077, "message": "Ciao & 👍"}) == (
        b"with_id=49077&message=Ciao+%26+%F0%9F%91%8D", "application/x-www-form-urlencoded")


@pytest.mark.parametrize("source,data", [
    ("a", {"a": 1}), ("a.b.c", {"a": {"b": {"c": [1]}}}), ("a.b", {"a": [1, 2]}),
    ("a.b", {"a": None}), ("@", {"x": 1}), ('"odata.nextLink"', {"odata.nextLink": "u"}),
    ("a", [1, 2]), ("a.b", {"a": "text"}), ("a", None),
], ids=lambda v: repr(v))
def test_plain_field_paths_agree_with_jmespath(source, data):
    import jmespath

    from gateway.mapping.expressions import Expression
    assert Expression(source).search(data) == jmespath.search(source, data)


_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=False, allow_infinity=False)
    | st.integers() | st.integers(-(2**70), 2**70) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(_JSON_VALUES)
def test_json_answers_read_exactly_as_json_loads_reads_them(value):
    """Same values and types: 20-digit ids stay integers, floats round the same way."""
    body = json.dumps(value, ensure_ascii=False).encode()
    decoded = decode_json(body)
    assert decoded == json.loads(body)
    assert json.dumps(decoded) == json.dumps(json.loads(body))  # 1 vs 1.0, -0.0 vs 0


@pytest.mark.parametrize("body", [b'{"id": 123456789012345678901}', b'[-9223372036854775809]',
                                  b'[NaN, Infinity]', b'[1e400]', b'"\\ud800"',
                                  b'\xef\xbb\xbf{"a": 1}', '{"a": "é"}'.encode("utf-16")],
                         ids=repr)
def test_what_orjson_reads_differently_is_read_by_json_loads(body):
    assert json.dumps(decode_json(body)) == json.dumps(json.loads(body))
