"""`chat-gateway check` finds every kind of mapping mistake, all in one run, each as
`file:line path: message` — in a copy of the shipped config, broken on purpose."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.config.loader import load_config
from gateway.errors import ConfigErrors
from tests.conftest import ROOT
from tests.test_config import DEMO_ENV

# (file, text in the shipped file, broken text, the line's needle, path, message)
BREAKS = [
    ("routes.yaml", "mapping: mappings/storeden.yaml", "maping: mappings/storeden.yaml",
     "maping:", "upstreams.storeden.maping",
     "'maping' was unexpected; allowed here: base_url, credentials, mapping, optional, timeout, "
     "timezone, vars"),
    ("mappings/smartsender.yaml", 'path: "/contacts/{steps.chat.contact.id}/send"',
     'path: "/contacts/{steps.nope.id}/send"', "steps.nope",
     "operations.send_message.steps[1].request.path",
     "steps.nope is not in the context of send_message; steps has chat"),
    ("mappings/smartsender.yaml", 'content: "{body.text}"', 'content: "{body.txt}"',
     "body.txt", "operations.send_message.steps[1].request.body.fields.content",
     "body.txt is not in the context of send_message; body has media, text"),
    ("mappings/superoffice.yaml", 'auth: {type: header, name: Authorization, value: '
     '"{credentials.authorization}"}', 'auth: {type: header, name: Authorization, value: '
     '"{ctx(\'vars.key\')}"}', "auth:", "auth.value",
     "ctx() is not available in auth: it is rendered once at load; read credentials.* "
     "or vars.*"),
    ("mappings/superoffice.yaml", 'items: "value.ChatSession || value"',
     'items: "value.ChatSession || ctx(\'chat_id\')"', "ctx('chat_id')",
     "operations.list_chats.response.items",
     "'chat_id' is not in the context of list_chats; it has query, steps, vars"),
    ("mappings/superoffice.yaml", 'query: {after: "{query.after}"}',
     'query: {after: "{query.afer}"}', "query.afer",
     "operations.list_messages.request.query.after",
     "query.afer is not in the context of list_messages; query has after"),
    ("mappings/hapihub.yaml", 'auth: {type: bearer, token: "{credentials.token}"}',
     'auth: {type: bearer, token: "{credentials.token}", username: me}', "username: me",
     "auth.username", "'username' was unexpected; allowed here: token"),
    ("mappings/hapihub.yaml", "    pagination: {type: none}\n",
     "    pagination: {type: none, page_size: 10}\n    after: native\n    max_media: 1\n",
     "page_size: 10", "operations.list_chats.pagination.page_size",
     "'page_size' was unexpected; allowed here: order"),
    (None, None, None, "after: native", "operations.list_chats.after",
     "'after' was unexpected; allowed here: description, filters, pagination, request, "
     "response, steps"),
    (None, None, None, "max_media: 1", "operations.list_chats.max_media",
     "'max_media' was unexpected; allowed here: description, filters, pagination, request, "
     "response, steps"),
    ("mappings/hapihub.yaml", 'request: {method: GET, path: "/chat-rooms/{chat_id}"}',
     'request: {method: GET, path: "/chat-rooms/{chat_id}", body: {fields: {a: b}}}',
     "body: {fields: {a: b}}", "operations.get_chat.request.body",
     "a GET or DELETE request has no body"),
    ("mappings/hapihub.yaml", 'query: {room: "{chat_id}", "$sort[createdAt]": "-1"}',
     'query: {room: "{chat_idd}", text: "{body.text}", "$sort[createdAt]": "-1"}',
     "chat_idd", "operations.list_messages.request.query.room",
     "'chat_idd' is not in the context of list_messages; it has chat_id, query, steps, vars"),
    (None, None, None, "chat_idd", "operations.list_messages.request.query.text",
     "'body' is not in the context of list_messages; it has chat_id, query, steps, vars"),
    ("mappings/hapihub.yaml", "      - request:\n          method: PATCH",
     "      - name: patched\n        request:\n          method: PATCH", "name: patched",
     "operations.mark_message_seen.response.item", None),
    ("mappings/hapihub.yaml", "    response: {fields: *message}\n\0",
     "    response: {item: \"ctx('steps.patched')\", fields: *message}\n\0",
     "steps.patched", "operations.mark_message_seen.response.item",
     "steps.patched is not in the context of mark_message_seen; steps has message"),
    ("mappings/hapihub.yaml", "item: \"[@][?room == ctx('chat_id')] | [0]\"",
     "item: \"[@][?room == ctx('chat')] | [0]\"", "ctx('chat')",
     "operations.get_message.response.item",
     "'chat' is not in the context of get_message; it has chat_id, message_id, query, "
     "steps, vars"),
]


@pytest.fixture
def broken(tmp_path: Path) -> list[str]:
    """The shipped config with every break applied; the lines `check` must print."""
    shutil.copy(ROOT / "routes.yaml", tmp_path / "routes.yaml")
    shutil.copytree(ROOT / "mappings", tmp_path / "mappings")
    expected, file = [], None
    for name, old, new, needle, path, message in BREAKS:
        if name is not None:
            file = tmp_path / name
            text = file.read_text() + "\0"  # \0: the end of the file
            assert text.count(old) == 1, (name, old)
            file.write_text(text.replace(old, new)[:-1])
        if message is None:
            continue
        line = next(i for i, row in enumerate(file.read_text().splitlines(), 1) if needle in row)
        expected.append(f"{file.relative_to(tmp_path)}:{line} {path}: {message}")
    return expected


def test_check_prints_every_mistake_with_file_line_and_path_in_one_run(broken, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "gateway", "check", "--demo-env", "--config", "routes.yaml"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert sorted(lines[:-1]) == sorted(broken), "\n".join(lines)
    assert lines[-1] == f"{len(broken)} error(s): routes.yaml was not loaded"


def test_the_errors_come_sorted_by_file_then_line(broken, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigErrors) as caught:
        load_config(Path("routes.yaml"), DEMO_ENV)
    located = [(e.file, e.line) for e in caught.value.errors]
    files = list(dict.fromkeys(f for f, _ in located))
    assert located == sorted(located, key=lambda fl: (files.index(fl[0]), fl[1]))
    assert len(located) == len(broken)


def test_the_shipped_config_checks_clean():
    result = subprocess.run([sys.executable, "-m", "gateway", "check", "--demo-env", "--config",
                             str(ROOT / "routes.yaml")], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("order", ["required-first", "additional-first"])
def test_a_typo_is_unexpected_whatever_the_schema_order(order):
    from jsonschema import Draft202012Validator

    from gateway.config.problems import schema_errors
    from gateway.config.source import parse_yaml

    keys = [("required", ["mapping"]), ("additionalProperties", False)]
    schema = {"type": "object", "properties": {"mapping": {"type": "string"}},
              **dict(keys if order == "required-first" else keys[::-1])}
    source = parse_yaml("a: 1\nmaping: x\n", {}, file="m.yaml")
    errors = schema_errors(source, Draft202012Validator(schema))
    assert [str(e) for e in errors] == [
        "m.yaml:1 a: 'a' was unexpected; allowed here: mapping",
        "m.yaml:2 maping: 'maping' was unexpected; allowed here: mapping"]
