"""The fast canonical JSON writer is byte-identical to `json.dumps(ensure_ascii=False)`."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.jsontext import dumps_bytes

# What canonical resources hold: typed scalars in objects and lists. Any text, including
# control characters, U+2028, astral planes and quotes.
_SCALARS = st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.text()
_CANONICAL = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=5)
                          | st.dictionaries(st.text(), inner, max_size=5), max_leaves=30)
_ANY = st.recursive(_SCALARS | st.floats() | st.integers(), lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(st.text() | st.integers(), inner, max_size=4), max_leaves=20)


def _stdlib(data) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


@settings(max_examples=300, deadline=None)
@given(_CANONICAL)
def test_canonical_data_is_written_as_the_standard_library_writes_it(data):
    assert dumps_bytes(data) == _stdlib(data)


@settings(max_examples=300, deadline=None)
@given(_ANY)
def test_exact_writes_anything_as_the_standard_library_does(data):
    """Floats (NaN, 1e-07), big integers, integer keys: raw upstream records."""
    assert dumps_bytes(data, exact=True) == _stdlib(data)


def test_what_orjson_refuses_falls_back_to_the_standard_library():
    data = {1: 2**70, "x": [True, None]}
    assert dumps_bytes(data) == _stdlib(data) == b'{"1":1180591620717411303424,"x":[true,null]}'
