"""The key reference (`docs/reference.md`), generated from the loader's own schemas so it
cannot drift: every key of routes.yaml and of a mapping file, with its allowed values and
its description, and for parts chosen by `type:` each type's own keys and docs.

    python -m gateway.config.reference > docs/reference.md
"""

from __future__ import annotations

import sys
from typing import Any

from .schemas import MAPPING_SCHEMA, ROUTES_SCHEMA

__all__ = ["reference"]

_HEADER = """# Configuration key reference

Generated from the schemas the loader validates with (`python -m gateway.config.reference
> docs/reference.md`; a test fails when this file differs). How the pieces work together
is in [mappings.md](mappings.md). Any value may also be `${VAR}` or `${VAR:-default}`,
read from the environment.
"""


def reference() -> str:
    out = [_HEADER, "## routes.yaml\n"]
    out += _table(_rows(ROUTES_SCHEMA, "", ROUTES_SCHEMA))
    out += ["", "## Mapping files\n"]
    out += _table(_rows(MAPPING_SCHEMA, "", MAPPING_SCHEMA))
    parts = {**MAPPING_SCHEMA["$defs"], "auth": MAPPING_SCHEMA["properties"]["auth"]}
    for name, schema in parts.items():
        out += ["", f"### `{name}`\n"]
        if "allOf" in schema and "if" in schema["allOf"][0]:
            out += _types(schema)
        elif schema.get("type") == "array":
            out += _table(_rows(schema["items"], "[].", MAPPING_SCHEMA))
        else:
            out += _table(_rows(schema, "", MAPPING_SCHEMA))
    return "\n".join(out) + "\n"


def _types(schema: dict[str, Any]) -> list[str]:
    out = [schema.get("description", ""), ""]
    for branch in schema["allOf"]:
        name = branch["if"]["properties"]["type"]["const"]
        out += [f"#### `type: {name}`", "", " ".join(branch.get("description", "").split()), ""]
        then = branch["then"]
        keys = {k: v for k, v in then["properties"].items() if k != "type"}
        if keys:
            required = set(then.get("required", ()))
            out += _table([(f"`{k}`" + (" (required)" if k in required else ""), _value(v),
                            _description(v)) for k, v in keys.items()])
        else:
            out.append("No other keys.")
        out += ["", *(f"Note: {rule['errorMessage']}." for rule in then.get("allOf", ()))]
        out.append("")
    return out


def _rows(schema: dict[str, Any], prefix: str, root: dict[str, Any]) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    required = set(schema.get("required", ()))
    for key, sub in schema.get("properties", {}).items():
        path = f"{prefix}{key}"
        name = f"`{path}`" + (" (required)" if key in required else "")
        if "$ref" in sub:
            target = sub["$ref"].rsplit("/", 1)[1]
            rows.append((name, f"see [`{target}`](#{target})", _description(root["$defs"][target])))
            continue
        rows.append((name, _value(sub), _description(sub)))
        if sub.get("type") == "object" and "properties" in sub and "if" not in sub.get(
                "allOf", [{}])[0]:
            rows += _rows(sub, f"{path}.", root)
        nested = sub.get("additionalProperties")
        if isinstance(nested, dict) and "properties" in nested:
            rows += _rows(nested, f"{path}.<name>.", root)
        items = sub.get("items")
        if isinstance(items, dict) and "properties" in items:
            rows += _rows(items, f"{path}[].", root)
    return rows


def _value(schema: dict[str, Any]) -> str:
    if "enum" in schema:
        return " \\| ".join(f"`{v}`" for v in schema["enum"])
    if "const" in schema:
        return f"`{schema['const']}`"
    for key in ("oneOf", "anyOf"):
        if key in schema:
            return " or ".join(_value(s) for s in schema[key])
    kind = schema.get("type", "")
    text = " or ".join(kind) if isinstance(kind, list) else kind
    if schema.get("format"):
        text += f" ({schema['format']})"
    if "pattern" in schema:
        text += f" matching `{schema['pattern']}`"
    bounds = [f"{k} {schema[k]}" for k in ("minimum", "maximum") if k in schema]
    if "exclusiveMinimum" in schema:
        bounds.append(f"over {schema['exclusiveMinimum']}")
    if bounds:
        text += f" ({', '.join(bounds)})"
    if kind == "array" and isinstance(schema.get("items"), dict) and \
            "properties" not in schema["items"]:
        text += f" of {_value(schema['items'])}"
    if kind == "object" and "propertyNames" in schema:
        text += " by operation"
    return text or "any"


def _description(schema: dict[str, Any]) -> str:
    return " ".join(str(schema.get("description", "")).split())


def _table(rows: list[tuple[str, ...]]) -> list[str]:
    out = ["| key | value | meaning |", "| --- | --- | --- |"]
    out += [f"| {k} | {v} | {d} |" for k, v, d in rows]
    return out


if __name__ == "__main__":
    sys.stdout.write(reference())
