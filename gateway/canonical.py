"""The canonical chat API (v1): operations, resource shapes and input schemas.

This module is the single source of truth for the contract in `canonical-api.md`:
the router, the input validator, the response mapper and the OpenAPI document all
read it. Nothing here knows any upstream.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "Operation",
    "OPERATIONS",
    "RESOURCE_FIELDS",
    "RESOURCE_SCHEMAS",
    "BODY_SCHEMAS",
    "LIST_QUERY",
    "MAX_LIMIT",
    "DEFAULT_LIMIT",
    "INPUT_FIELDS",
    "SAFE_TEXT",
    "UNICODE_TEXT",
    "ID_SCHEMA",
    "MAX_ID",
]

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
MAX_ID = 200
# Text every canonical string input must match: no control characters XML cannot carry
# (tab, LF and CR are fine), no U+FFFE/U+FFFF. The document states this pattern.
SAFE_TEXT = "^[^\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\ufffe\\uffff]*$"
# What the gateway checks: SAFE_TEXT and no lone surrogates either, which UTF-8 cannot
# encode. Not in the document's pattern: a document string is Unicode text, which has no
# lone surrogates (I-JSON, RFC 7493 §2.1), and generators such as schemathesis misread a
# surrogate range in a negated class and then ignore the whole pattern.
UNICODE_TEXT = SAFE_TEXT.replace("\\ufffe", "\\ud800-\\udfff\\ufffe")
ID_SCHEMA: dict[str, Any] = {"type": "string", "minLength": 1, "maxLength": MAX_ID,
                             "pattern": SAFE_TEXT}


@dataclass(frozen=True)
class Operation:
    """One canonical operation: its HTTP shape and what it returns."""

    name: str
    method: str
    path: str  # below /v1/{upstream}
    resource: str | None  # "chat", "message", "profile" or None (204)
    is_list: bool = False
    success_status: int = 200
    query: tuple[str, ...] = ()
    summary: str = ""


_CHAT = "/chats/{chat_id}"
_MESSAGE = _CHAT + "/messages/{message_id}"

OPERATIONS: dict[str, Operation] = {
    op.name: op
    for op in (
        Operation("get_profile", "GET", "/me", "profile",
                  summary="The account the gateway acts as"),
        Operation("list_chats", "GET", "/chats", "chat", is_list=True,
                  query=("limit", "cursor", "q", "state", "unread", "assignee"),
                  summary="List chats in the upstream's order"),
        Operation("get_chat", "GET", _CHAT, "chat", summary="Get one chat"),
        Operation("list_messages", "GET", _CHAT + "/messages", "message", is_list=True,
                  query=("limit", "cursor", "after"),
                  summary="List a chat's messages, newest first"),
        Operation("get_message", "GET", _MESSAGE, "message", summary="Get one message"),
        Operation("send_message", "POST", _CHAT + "/messages", "message",
                  success_status=201, summary="Send a message to a chat"),
        Operation("mark_message_seen", "PATCH", _MESSAGE, "message",
                  summary="Mark one message as seen"),
        Operation("mark_chat_read", "POST", _CHAT + "/read", None, success_status=204,
                  summary="Mark every message of a chat as read"),
        Operation("close_chat", "POST", _CHAT + "/close", None, success_status=204,
                  summary="Close a chat"),
        Operation("assign_chat", "POST", _CHAT + "/assign", None, success_status=204,
                  summary="Hand a chat to an operator"),
    )
}

# Every canonical resource carries exactly these fields; a value the upstream does not
# have is null (or [] for lists), never missing. Nested dicts are nested objects.
RESOURCE_FIELDS: dict[str, dict[str, Any]] = {
    "chat": {
        "id": "string",
        "title": "string?",
        "state": "string?",
        "unread_count": "integer?",
        "contact": {"id": "string?", "name": "string?"},
        "last_message": {"text": "string?", "sent_at": "datetime?"},
        "assignee_id": "string?",
        "created_at": "datetime?",
        "updated_at": "datetime?",
    },
    "message": {
        "id": "string",
        "chat_id": "string?",
        "text": "string?",
        "media": "media[]",
        "direction": "direction?",
        "sender": {"id": "string?", "name": "string?"},
        "sent_at": "datetime?",
        "read": "boolean?",
        "type": "string?",
    },
    "profile": {"id": "string", "name": "string?", "email": "string?"},
}

_SCALARS: dict[str, dict[str, Any]] = {
    "string": {"type": "string"},
    "integer": {"type": "integer"},
    "boolean": {"type": "boolean"},
    "datetime": {"type": "string", "format": "date-time",
                 "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$"},
    "direction": {"type": "string", "enum": ["inbound", "outbound"]},
}
MEDIA_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["url", "type"],
    "properties": {
        "url": {"type": "string"},
        "type": {"type": ["string", "null"], "description": "image, file, audio, video or null"},
    },
}


def _field_schema(kind: Any) -> dict[str, Any]:
    if isinstance(kind, dict):
        return {
            "type": ["object", "null"],
            "additionalProperties": False,
            "required": list(kind),
            "properties": {k: _field_schema(v) for k, v in kind.items()},
        }
    if kind == "media[]":
        return {"type": "array", "items": MEDIA_SCHEMA}
    nullable = kind.endswith("?")
    schema = dict(_SCALARS[kind.rstrip("?")])
    if nullable:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        schema["type"] = [*types, "null"]
        if "enum" in schema:
            schema["enum"] = [*schema["enum"], None]
    return schema


def _resource_schema(fields: dict[str, Any]) -> dict[str, Any]:
    schema = _field_schema(fields)
    schema["type"] = "object"
    schema["properties"]["raw"] = {"description": "The upstream's own record (?include=raw)"}
    return schema


RESOURCE_SCHEMAS: dict[str, dict[str, Any]] = {
    name: _resource_schema(fields) for name, fields in RESOURCE_FIELDS.items()
}

BODY_SCHEMAS: dict[str, dict[str, Any]] = {
    "send_message": {
        "type": "object",
        "additionalProperties": False,
        "required": ["text"],
        "properties": {
            "text": {"type": "string", "minLength": 1, "maxLength": 10000, "pattern": SAFE_TEXT},
            "media": {
                "type": "array",
                "maxItems": 10,
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["url"],
                    "properties": {
                        "url": {"type": "string", "minLength": 1, "maxLength": 2048,
                                "pattern": SAFE_TEXT},
                        "type": {"type": "string", "enum": ["image", "file", "audio", "video"]},
                    },
                },
            },
        },
    },
    "mark_message_seen": {
        "type": "object",
        "additionalProperties": False,
        "required": ["seen"],
        "properties": {"seen": {"const": True}},
    },
    "assign_chat": {
        "type": "object",
        "additionalProperties": False,
        "required": ["operator_id"],
        "properties": {
            "operator_id": ID_SCHEMA,
            "note": {"type": "string", "maxLength": 2000, "pattern": SAFE_TEXT},
        },
    },
}

# Query parameters of list operations, as JSON Schemas of their decoded values.
LIST_QUERY: dict[str, dict[str, Any]] = {
    "limit": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
    "cursor": {"type": "string", "minLength": 1, "maxLength": 4096},
    "q": {"type": "string", "minLength": 1, "maxLength": 500, "pattern": SAFE_TEXT},
    "state": {"type": "string", "enum": ["open", "closed"]},
    "unread": {"type": "boolean"},
    "assignee": ID_SCHEMA,
    "after": ID_SCHEMA,
}

# Every canonical input a 400 can name: path ids, query parameters, body fields.
INPUT_FIELDS: frozenset[str] = frozenset(
    {"chat_id", "message_id", "include", "body", *LIST_QUERY}
    | {name for schema in BODY_SCHEMAS.values() for name in schema["properties"]})
