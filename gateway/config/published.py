"""The JSON Schemas published for editors (`schemas/*.schema.json`,
`chat-gateway schema`), generated from the loader's own schemas so they cannot drift.

Both files are read with `${VAR}` / `${VAR:-default}` expanded from the environment
before they are validated, so wherever the loader wants a number, a boolean, a fixed
value or a pattern, the published schema also accepts a `${VAR}` string.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from .schemas import MAPPING_SCHEMA, ROUTES_SCHEMA

__all__ = ["published_schema", "SCHEMA_FILES", "KINDS", "dump"]

KINDS = {"routes": ROUTES_SCHEMA, "mapping": MAPPING_SCHEMA}
SCHEMA_FILES = {"routes": "schemas/routes.schema.json", "mapping": "schemas/mapping.schema.json"}
_TITLES = {"routes": "chat-gateway routes.yaml", "mapping": "chat-gateway mapping file"}
ENV_REFERENCE = {"type": "string", "pattern": r"\$\{[A-Za-z_][A-Za-z0-9_]*(:-[^}]*)?\}",
                 "description": "${VAR} or ${VAR:-default}, read from the environment"}
_CONSTRAINED = ("enum", "const", "pattern", "minimum", "maximum", "exclusiveMinimum")


def published_schema(kind: str) -> dict[str, Any]:
    schema = _with_env(copy.deepcopy(KINDS[kind]))
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"https://chat-gateway.invalid/{SCHEMA_FILES[kind]}",
            "title": _TITLES[kind], **schema}


def dump(kind: str) -> str:
    return json.dumps(published_schema(kind), indent=2, ensure_ascii=False) + "\n"


def _with_env(node: Any) -> Any:
    if isinstance(node, list):
        return [_with_env(item) for item in node]
    if not isinstance(node, dict):
        return node
    # keys are never expanded, and an `if` only picks which keys apply
    out = {key: value if key in ("if", "propertyNames") else _with_env(value)
           for key, value in node.items()}
    types = out.get("type", [])
    types = [types] if isinstance(types, str) else types
    scalar = bool(types) and not {"object", "array"} & set(types)
    if (scalar and types != ["string"]) or any(k in out for k in _CONSTRAINED):
        description = out.pop("description", None)
        wrapped: dict[str, Any] = {"anyOf": [out, ENV_REFERENCE]}
        return {**wrapped, "description": description} if description else wrapped
    return out
