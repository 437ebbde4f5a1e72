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

from lxml import etree

from ..errors import MappingError
from .expressions import text_of

__all__ = ["DECODERS", "ENCODERS", "decode_body", "decode_json", "decode_xml",
           "encode_json", "encode_form", "encode_xml", "media_type_format"]

_XSI = "http://www.w3.org/2001/XMLSchema-instance"
_PARSER_OPTIONS = dict(resolve_entities=False, no_network=True, load_dtd=False,
                       huge_tree=False, remove_comments=True, remove_pis=True)


def decode_json(body: bytes, lists: Collection[str] = ()) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MappingError(f"answer is not valid JSON: {exc}", stage="decode") from None


def decode_xml(body: bytes, lists: Collection[str] = ()) -> Any:
    parser = etree.XMLParser(**_PARSER_OPTIONS)
    try:
        root = etree.fromstring(body, parser=parser)
    except etree.XMLSyntaxError as exc:
        raise MappingError(f"answer is not valid XML: {exc}", stage="decode") from None
    if root.getroottree().docinfo.internalDTD is not None or b"<!DOCTYPE" in body[:2048]:
        raise MappingError("answer is XML with a DTD, which is refused", stage="decode")
    return _element(root, frozenset(lists))


def _local(tag: Any) -> str:
    return etree.QName(tag).localname


def _element(elem: Any, lists: frozenset[str]) -> Any:
    if elem.get(f"{{{_XSI}}}nil") == "true":
        return None
    attrs = {f"@{_local(k)}": v for k, v in elem.attrib.items() if not k.startswith(f"{{{_XSI}}}")}
    children = [c for c in elem if isinstance(c.tag, str)]
    text = (elem.text or "").strip()
    if not children and not attrs:
        return elem.text if text else None
    grouped: dict[str, list[Any]] = {}
    for child in children:
        grouped.setdefault(_local(child.tag), []).append(_element(child, lists))
    out: dict[str, Any] = dict(attrs)
    for name, values in grouped.items():
        out[name] = values if name in lists or len(values) > 1 else values[0]
    if text:
        out["#text"] = elem.text
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
                lists: Collection[str] = ()) -> Any:
    """Decode by the answer's Content-Type, else by the format the mapping expects."""
    if not body.strip():
        return None
    fmt = media_type_format(content_type) or expected
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
