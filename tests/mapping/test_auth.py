"""Every auth style renders the headers / query it promises, once, from credentials."""

from __future__ import annotations

import base64

import pytest

from gateway.mapping.auth import AUTH_STYLES, build_auth
from gateway.mapping.expressions import Template

CONTEXT = {"credentials": {"token": "tok-123456", "username": "tje0", "password": "Tje0-pass",
                           "authorization": "SoTicket 7T:abcdef", "key": "k-123456",
                           "exchange": "x-123456"}, "vars": {}}


def render(template: str, key: str) -> str:
    return str(Template(template).render(CONTEXT))


@pytest.mark.parametrize("spec,headers,query", [
    ({"type": "bearer"}, {"Authorization": "Bearer tok-123456"}, {}),
    ({"type": "basic"},
     {"Authorization": "Basic " + base64.b64encode(b"tje0:Tje0-pass").decode()}, {}),
    ({"type": "header", "value": "{credentials.authorization}"},
     {"Authorization": "SoTicket 7T:abcdef"}, {}),
    ({"type": "headers", "headers": {"key": "{credentials.key}",
                                     "exchange": "{credentials.exchange}"}},
     {"key": "k-123456", "exchange": "x-123456"}, {}),
    ({"type": "query", "name": "api_key", "value": "{credentials.key}"}, {}, {"api_key": "k-123456"}),
    ({"type": "none"}, {}, {}),
], ids=lambda v: v["type"] if isinstance(v, dict) and "type" in v else "")
def test_auth_styles(spec, headers, query):
    parts = build_auth(spec, render)
    assert (parts.headers, parts.query) == (headers, query)
    for value in [*headers.values(), *query.values()]:
        assert any(secret in value for secret in parts.secrets)  # all redactable


def test_every_style_is_tested():
    assert set(AUTH_STYLES) == {"bearer", "basic", "header", "headers", "query", "none"}
