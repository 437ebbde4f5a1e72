"""Upstream auth styles, picked by `auth.type` in a mapping.

Each style is a small class that names its `type:` (`TYPE`), its keys (`KEYS`, JSON
Schema fragments the config schema and the reference docs are built from) and its docs
(the docstring). It is rendered once, when the config loads, from the upstream's
credentials (`{credentials.token}` etc.), into the headers and query parameters every
request to that upstream carries. `secrets` lists the rendered values for redaction.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["AuthParts", "AUTH_STYLES", "build_auth"]

Render = Callable[[str, str], str]  # (template, key in the spec) -> text
_TEMPLATE = {"type": "string", "description": "template over credentials.* and vars.*"}


def _template(default: str) -> dict[str, Any]:
    return {**_TEMPLATE, "description": f"template over credentials.* and vars.* "
                                        f"(default {default})"}


@dataclass(frozen=True)
class AuthParts:
    headers: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)
    secrets: tuple[str, ...] = ()


class NoAuth:
    """Nothing is sent."""

    TYPE = "none"
    KEYS: dict[str, Any] = {}

    def build(self, spec: dict[str, Any], render: Render) -> AuthParts:
        return AuthParts()


class BearerAuth:
    """`Authorization: Bearer <token>`."""

    TYPE = "bearer"
    KEYS = {"token": _template("{credentials.token}")}

    def build(self, spec: dict[str, Any], render: Render) -> AuthParts:
        token = render(spec.get("token", "{credentials.token}"), "token")
        return AuthParts(headers={"Authorization": f"Bearer {token}"}, secrets=(token,))


class BasicAuth:
    """`Authorization: Basic base64(username:password)`."""

    TYPE = "basic"
    KEYS = {"username": _template("{credentials.username}"),
            "password": _template("{credentials.password}")}

    def build(self, spec: dict[str, Any], render: Render) -> AuthParts:
        user = render(spec.get("username", "{credentials.username}"), "username")
        password = render(spec.get("password", "{credentials.password}"), "password")
        encoded = base64.b64encode(f"{user}:{password}".encode()).decode()
        return AuthParts(headers={"Authorization": f"Basic {encoded}"},
                         secrets=(password, encoded))


class HeaderAuth:
    """One header with a full value (`SoTicket …`)."""

    TYPE = "header"
    KEYS = {"name": {"type": "string", "minLength": 1,
                     "description": "header name (default Authorization)"},
            "value": _template("{credentials.authorization}")}
    _DEFAULTS = ("Authorization", "{credentials.authorization}")
    _PLACE = "headers"  # the AuthParts field the value goes in

    def build(self, spec: dict[str, Any], render: Render) -> AuthParts:
        name = spec.get("name", self._DEFAULTS[0])
        value = render(spec.get("value", self._DEFAULTS[1]), "value")
        secrets = (value, *value.split(" ", 1)[1:])  # `Scheme secret`: the secret alone too
        return AuthParts(**{self._PLACE: {name: value}}, secrets=secrets)


class QueryAuth(HeaderAuth):
    """A query parameter on every request."""

    TYPE = "query"
    KEYS = {"name": {"type": "string", "minLength": 1,
                     "description": "parameter name (default api_key)"},
            "value": _template("{credentials.key}")}
    _DEFAULTS = ("api_key", "{credentials.key}")
    _PLACE = "query"


class HeadersAuth:
    """Several headers, each a template (`key`, `exchange`)."""

    TYPE = "headers"
    KEYS = {"headers": {"type": "object", "additionalProperties": _TEMPLATE,
                        "description": "header name → template"}}

    def build(self, spec: dict[str, Any], render: Render) -> AuthParts:
        headers = {name: render(str(t), f"headers.{name}")
                   for name, t in spec.get("headers", {}).items()}
        return AuthParts(headers=headers, secrets=tuple(headers.values()))


AUTH_STYLES: dict[str, Any] = {cls.TYPE: cls for cls in (
    NoAuth, BearerAuth, BasicAuth, HeaderAuth, HeadersAuth, QueryAuth)}


def build_auth(spec: dict[str, Any], render: Render) -> AuthParts:
    parts = AUTH_STYLES[spec["type"]]().build(spec, render)
    return AuthParts(parts.headers, parts.query, tuple(s for s in parts.secrets if len(s) >= 4))
