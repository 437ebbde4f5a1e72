"""The mapping language's additions: functions, `ctx()` as JMESPath, null objects, and
request headers a mapping declares reaching the upstream as declared."""

from __future__ import annotations

import shutil
from zoneinfo import ZoneInfo

import pytest
from prometheus_client import CollectorRegistry

from gateway.errors import MappingError
from gateway.mapping.expressions import Expression, options_for
from gateway.mapping.fields import ResourceMapper
from gateway.mapping.functions import CUSTOM_FUNCTIONS, MappingFunctions
from gateway.server import create_app
from tests.conftest import AUTH, ROOT, recorded

CONTEXT = {"chat_id": "C1", "vars": {"team": "T9"}, "query": {"after": None},
           "steps": {"chat": {"members": [{"id": "u1"}, {"id": "u2"}]}}}


@pytest.mark.parametrize("source,data,expected", [
    ("replace(text, `\"\\n\"`, ' ')", {"text": "a\nb\nc"}, "a b c"),
    ("replace(missing, 'a', 'b')", {}, None),
    ("html_unescape(text)", {"text": "Tom &amp; Jerry &lt;3 &#39;x&#39; &eacute;"},
     "Tom & Jerry <3 'x' é"),
    ("lower(text)", {"text": "ÀbC"}, "àbc"),
    ("upper(text)", {"text": "àbc"}, "ÀBC"),
    ("trim(text)", {"text": "  hi \n"}, "hi"),
    ("split(text, ',')", {"text": "a,b,,c"}, ["a", "b", "", "c"]),
    ("join('-', split(text, ','))", {"text": "a,b"}, "a-b"),
    ("split(missing, ',')", {}, None),
    ("if(ok, 'yes', 'no')", {"ok": True}, "yes"),
    ("if(ok, 'yes', 'no')", {"ok": ""}, "no"),
    ("if(ok, 'yes', 'no')", {"ok": 0}, "yes"),  # JMESPath truthiness: 0 is true
    ("if(ok, `null`, 'no')", {"ok": [1]}, None),  # unlike `ok && null || 'no'`
    ("coalesce(a, b, 'c')", {"b": "B"}, "B"),
    ("coalesce(a, b)", {}, None),
    ("ctx('chat_id')", {}, "C1"),
    ("ctx('steps.chat.members[1].id')", {}, "u2"),
    ("ctx('steps.chat.members[*].id')", {}, ["u1", "u2"]),
    ("ctx('vars.team') == 'T9'", {}, True),
    ("parse_json(text).a", {"text": '{"a": 1}'}, 1),
], ids=lambda v: v if isinstance(v, str) else None)
def test_functions(source, data, expected):
    assert Expression(source).search(data, options_for(CONTEXT)) == expected


def test_every_declared_function_is_implemented_and_every_one_is_declared():
    implemented = {name[len("_func_"):] for name in dir(MappingFunctions)
                   if name.startswith("_func_")}
    standard = {name[len("_func_"):] for name in dir(MappingFunctions.__mro__[1])
                if name.startswith("_func_")}
    assert implemented - standard == CUSTOM_FUNCTIONS


def test_a_bad_ctx_path_at_run_time_is_a_mapping_failure():
    with pytest.raises(MappingError, match="ctx"):
        Expression("ctx('steps.[')").search({}, options_for(CONTEXT))


CHAT_FIELDS = {"id": "id", "title": "name",
               "contact": {"when": "user", "id": "user", "name": "user_name"},
               "last_message": {"text": "last.text"}}


@pytest.mark.parametrize("record,contact,last", [
    ({"id": "D1", "user": "U7", "user_name": "Ann", "last": {"text": "hi"}},
     {"id": "U7", "name": "Ann"}, {"text": "hi", "sent_at": None}),
    ({"id": "C1", "name": "general"}, None, {"text": None, "sent_at": None}),
    ({"id": "C2", "user": "", "user_name": "x"}, None, {"text": None, "sent_at": None}),
], ids=["dm-has-a-contact", "channel-has-none", "empty-source-is-none"])
def test_an_object_with_when_is_null_without_its_source(record, contact, last):
    mapper = ResourceMapper("chat", CHAT_FIELDS, lambda p, m: ValueError(p, m), ())
    chat = mapper.map(record, options_for({}), ZoneInfo("UTC"))
    assert chat["contact"] == contact and chat["last_message"] == last


async def test_a_declared_content_type_reaches_the_upstream_as_declared(
        aiohttp_client, emulators, gateway_env, tmp_path):
    shutil.copy(ROOT / "routes.yaml", tmp_path / "routes.yaml")
    shutil.copytree(ROOT / "mappings", tmp_path / "mappings")
    mapping = tmp_path / "mappings" / "hapihub.yaml"
    text = mapping.read_text()
    old = "      method: POST\n      path: /chat-messages\n"
    assert old in text
    mapping.write_text(text.replace(old, old + "      headers: {Content-Type: "
                                              "'application/json; charset=utf-8'}\n"))
    gateway = await aiohttp_client(create_app(tmp_path / "routes.yaml", gateway_env,
                                              registry=CollectorRegistry()))
    response = await gateway.post("/v1/hapihub/chats/room-002/messages", json={"text": "hé"},
                                  headers=AUTH)
    assert response.status == 201, await response.text()
    sent = recorded(emulators, "hapihub")[-1]
    assert sent.headers.getall("Content-Type") == ["application/json; charset=utf-8"]


async def test_without_a_declared_content_type_the_codec_sets_it(gateway, emulators):
    response = await gateway.post("/v1/hapihub/chats/room-002/messages", json={"text": "x"},
                                  headers=AUTH)
    assert response.status == 201
    assert recorded(emulators, "hapihub")[-1].headers["Content-Type"] == "application/json"
