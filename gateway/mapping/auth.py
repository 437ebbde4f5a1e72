"""Upstream auth styles, picked by `auth.type` in a mapping.

Each style is rendered once, when the config loads, from the upstream's credentials
(`{credentials.token}` etc.), into the headers and query parameters every request to
that upstream carries. `secrets` lists the rendered values so they can be redacted.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["AuthParts", "AUTH_STYLES", "build_auth"]

Render = Callable[[str, str], str]  # (template, key in the spec) -> text


@dataclass(frozen=True)
class AuthParts:
    headers: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)
    secrets: tuple[str, ...] = ()


def _none(spec: dict[str, Any], render: Render) -> AuthParts:
    return AuthParts()


def _bearer(spec: dict[str, Any], render: Render) -> AuthParts:
    token = render(spec.get("token", "{credentials.token}"), "token")
    return AuthParts(headers={"Authorization": f"Bearer {token}"}, secrets=(token,))


def _basic(spec: dict[str, Any], render: Render) -> AuthParts:
    user = render(spec.get("username", "{credentials.username}"), "username")
    password = render(spec.get("password", "{credentials.password}"), "password")
    encoded = base64.b64encode(f"{user}:{password}".encode()).decode()
    return AuthParts(headers={"Authorization": f"Basic {encoded}"},
                     secrets=(password, encoded))


def _header(spec: dict[str, Any], render: Render) -> AuthParts:
    name = spec.get("name", "Authorization")
    value = render(spec.get("value", "{credentials.authorization}"), "value")
    return AuthParts(headers={name: value}, secrets=(value, *value.split(" ", 1)[1:]))


def _headers(spec: dict[str, Any], render: Render) -> AuthParts:
    headers = {name: render(str(t), f"headers.{name}") for name, t in spec.get("headers", {}).items()}
    return AuthParts(headers=headers, secrets=tuple(headers.values()))


def _query(spec: dict[str, Any], render: Render) -> AuthParts:
    name = spec.get("name", "api_key")
    value = render(spec.get("value", "{credentials.key}"), "value")
    return AuthParts(query={name: value}, secrets=(value,))


AUTH_STYLES: dict[str, Callable[[dict[str, Any], Render], AuthParts]] = {
    "none": _none,
    "bearer": _bearer,
    "basic": _basic,
    "header": _header,
    "headers": _headers,
    "query": _query,
}


def build_auth(spec: dict[str, Any], render: Render) -> AuthParts:
    parts = AUTH_STYLES[spec["type"]](spec, render)
    return AuthParts(parts.headers, parts.query, tuple(s for s in parts.secrets if len(s) >= 4))
