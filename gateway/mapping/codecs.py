"""Body codecs: decode upstream answers (JSON, XML) and encode request bodies
(JSON, form, XML). Picked by name through `DECODERS` / `ENCODERS`.

XML is parsed safely (no DTD, no entity expansion, no network) and read into plain
data by one rule set, whatever the namespaces: elements by local name; repeated
elements, and those named in the mapping's `xml.lists`, become lists; attributes become
`@name`; `i:nil="true"` is null; the root element's name is dropped, so
`<object><status>1</status></object>` reads as `{"status": "1"}`, like its JSON twin.
A body that cannot be read is a `MappingError` (502) — never `{}`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection
from typing import Any
from urllib.parse import urlencode

import orjson
from lxml import etree

from ..errors import MappingError
from .expressions import text_of

__all__ = ["DECODERS", "LazyElement", "LazyPaths", "ENCODERS", "ENCODER_KEYS", "decode_body", "decode_json", "decode_xml",
           "encode_json", "encode_form", "encode_xml", "media_type_format"]

_DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"000000000")
_NINETEEN_DIGITS = b"0" * 19
_XSI = "http://www.w3.org/2001/XMLSchema-instance"
_XSI_PREFIX = f"{{{_XSI}}}"
_NIL_TRUE = (f"{{{_XSI}}}nil", "true")


def decode_json(body: bytes, lists: Collection[str] = ()) -> Any:
    """orjson reads (3x faster) what it reads exactly as json.loads does; the rest —
    NaN, out-of-range numbers, lone surrogates, a BOM, other encodings, and integers of
    19+ digits, which it would read as floats — is json.loads's, errors included."""
    if _NINETEEN_DIGITS not in body.translate(_DIGITS_AS_ZERO):
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            pass
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MappingError(f"answer is not valid JSON: {exc}", stage="decode") from None


def decode_xml(body: bytes, lists: Collection[str] = (), lazy: LazyPaths | None = None) -> Any:
    """`lazy` (a tree of local names, None at its leaves) leaves the elements of the
    declared list it leads to unread: each is a `LazyElement` its consumer reads."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                             huge_tree=False, remove_comments=True, remove_pis=True)
    try:
        root = etree.fromstring(body, parser=parser)
    except etree.XMLSyntaxError as exc:
        raise MappingError(f"answer is not valid XML: {exc}", stage="decode") from None
    if root.getroottree().docinfo.internalDTD is not None or b"<!DOCTYPE" in body[:2048]:
        raise MappingError("answer is XML with a DTD, which is refused", stage="decode")
    attributes = root.items()
    if attributes and _NIL_TRUE in attributes:
        return None
    return _XmlReader(frozenset(lists), root if lazy else None).read(root, attributes, lazy)


LazyPaths = dict[str, "LazyPaths | None"]


class LazyElement:
    """One record element left unread — one whose first child is an element, so never
    read as null or text: `read()` gives exactly the object the eager reader would have; `fields(names)` only its children of those local names (a dict whose
    values are the eager ones, for readers that look up only those names)."""

    __slots__ = ("_element", "_reader")

    def __init__(self, element: Any, reader: _XmlReader) -> None:
        self._element, self._reader = element, reader

    def read(self) -> Any:
        return self._reader.read(self._element, self._element.items())

    def fields(self, names: frozenset[str]) -> dict[str, Any]:
        children = self._reader.children_named(self._element, names)
        value = self._reader.read(self._element, (), None, children)
        if type(value) is not dict:
            return {}
        value.pop("#text", None)  # the element's own text: not a child's
        return value


class _XmlReader:
    """One document's walk into plain data, shaped by what costs here: every lxml call
    (a child proxy, `.tag`, `.items()`, `len()`, `.text`) is a C round trip, so each
    element gets the fewest — children fetched as one list, `i:nil` found by one tuple
    test, a leaf's text read in its parent's loop — and `{ns}name` tags map to their
    local name, and whether it is a declared list, once per distinct tag."""

    __slots__ = ("_lists", "_names", "_root", "_named")

    def __init__(self, lists: frozenset[str], root: Any = None) -> None:
        self._lists, self._root = lists, root
        self._names: dict[str, tuple[str, bool]] = {}
        self._named: dict[frozenset[str], dict[Any, list[Any]]] = {}

    def children_named(self, elem: Any, names: frozenset[str]) -> Any:
        """`elem`'s children of those local names, in order. Found for every element of
        the document in one walk (lxml matches the names in C; asking each element would
        build a matcher each time): a sort reads the same field of every record."""
        if not names:  # `iter()` of no names would match every element
            return ()
        parents = self._named.get(names)
        if parents is None:
            parents = self._named[names] = {}
            for child in self._root.iter(*["{*}" + name for name in names]):
                parent = child.getparent()  # the very proxy a LazyElement holds
                siblings = parents.get(parent)
                if siblings is None:
                    parents[parent] = [child]
                else:
                    siblings.append(child)
        return parents.get(elem, ())

    def _name(self, tag: str) -> tuple[str, bool]:
        name = tag[tag.index("}") + 1:] if tag[:1] == "{" else tag
        entry = self._names[tag] = (name, name in self._lists)
        return entry

    def read(self, elem: Any, attributes: Any, lazy: LazyPaths | None = None,
             children: Any = None) -> Any:
        """`elem`'s value; the caller has read its `attributes` and ruled out `i:nil`.
        Children named in `lazy` are read by it (see `decode_xml`); `children`, when
        given, are the only ones read."""
        out: dict[str, Any] = {}
        names, read = self._names, self.read
        for key, attribute in attributes:
            if not key.startswith(_XSI_PREFIX):
                out["@" + (names.get(key) or self._name(key))[0]] = attribute
        for child in elem.getchildren() if children is None else children:
            tag = child.tag
            if type(tag) is not str:  # an entity reference left unresolved
                continue
            name, listed = names.get(tag) or self._name(tag)
            child_attributes = child.items()
            value: Any
            if lazy is not None and name in lazy:
                inner = lazy[name]
                if child_attributes and _NIL_TRUE in child_attributes:
                    value = None
                elif inner is None and listed and len(child) and type(child[0].tag) is str:
                    value = LazyElement(child, self)  # an object: it has an element child
                else:
                    value = read(child, child_attributes, inner)
            elif child_attributes:
                value = None if _NIL_TRUE in child_attributes else read(child, child_attributes)
            elif len(child):
                value = read(child, child_attributes)
            else:
                value = child.text
                if value is not None and not value.strip():
                    value = None
            if listed:
                bucket = out.get(name)
                if bucket is None:
                    out[name] = [value]
                else:
                    bucket.append(value)
            elif name in out:  # repeated: a list (an element's own value never is one)
                seen = out[name]
                if type(seen) is list:
                    seen.append(value)
                else:
                    out[name] = [seen, value]
            else:
                out[name] = value
        text = elem.text
        if text is not None and not text.strip():
            text = None
        if not out:
            return text
        if text is not None:
            out["#text"] = text
        return out


def media_type_format(content_type: str) -> str | None:
    lowered = content_type.lower()
    if "json" in lowered:
        return "json"
    if "xml" in lowered:
        return "xml"
    return None


DECODERS: dict[str, Callable[[bytes, Collection[str]], Any]] = {
    "json": decode_json,
    "xml": decode_xml,
}


def decode_body(body: bytes, content_type: str, expected: str,
                lists: Collection[str] = (), lazy: LazyPaths | None = None) -> Any:
    """Decode by the answer's Content-Type, else by the format the mapping expects."""
    if not body.strip():
        return None
    fmt = media_type_format(content_type) or expected
    if lazy is not None and fmt == "xml":
        return decode_xml(body, lists, lazy)
    return DECODERS[fmt](body, lists)


def encode_json(data: Any, *, root: str | None = None, namespace: str | None = None
                ) -> tuple[bytes, str]:
    return json.dumps(data, ensure_ascii=False).encode(), "application/json"


def encode_form(data: Any, *, root: str | None = None, namespace: str | None = None
                ) -> tuple[bytes, str]:
    if not isinstance(data, dict):
        raise TypeError("a form body is an object of fields")
    pairs: list[tuple[str, str]] = []
    for key, value in data.items():
        for item in value if isinstance(value, list) else [value]:
            pairs.append((key, text_of(item)))
    return urlencode(pairs).encode(), "application/x-www-form-urlencoded"


def encode_xml(data: Any, *, root: str | None = None, namespace: str | None = None
               ) -> tuple[bytes, str]:
    nsmap = {None: namespace, "i": _XSI} if namespace else {"i": _XSI}
    qualify = (lambda name: f"{{{namespace}}}{name}") if namespace else (lambda name: name)
    element = etree.Element(qualify(root or "object"), nsmap=nsmap)
    _fill(element, data, qualify)
    return etree.tostring(element, xml_declaration=True, encoding="utf-8"), "application/xml"


def _fill(element: Any, data: Any, qualify: Callable[[str], str]) -> None:
    if isinstance(data, dict):
        for key, value in data.items():
            for item in value if isinstance(value, list) else [value]:
                _fill(etree.SubElement(element, qualify(key)), item, qualify)
    elif data is None:
        element.set(f"{{{_XSI}}}nil", "true")
    else:
        element.text = text_of(data)


ENCODERS: dict[str, Callable[..., tuple[bytes, str]]] = {
    "json": encode_json,
    "form": encode_form,
    "xml": encode_xml,
}

# The keys each body encoding takes besides `encoding` and `fields` (schema fragments).
ENCODER_KEYS: dict[str, dict[str, Any]] = {
    "json": {},
    "form": {},
    "xml": {"root": {"type": "string", "minLength": 1,
                     "description": "the root element's name (default object)"},
            "namespace": {"type": "string", "minLength": 1,
                          "description": "the default xmlns of every element"}},
}
