"""What an expression reads from the call's context, and the scope check."""

from __future__ import annotations

import jmespath
import pytest

from gateway.mapping.variables import Scope, check_reads, ctx_reads, template_reads


@pytest.mark.parametrize("source,reads", [
    ("chat_id", [("chat_id",)]),
    ("query.after", [("query", "after")]),
    ("steps.chat.contact.id", [("steps", "chat", "contact", "id")]),
    ("body.media[0].url", [("body", "media")]),
    ("to_number(chat_id)", [("chat_id",)]),
    ("query.assignee && 'private' || query.unread && 'unread' || `null`",
     [("query", "assignee"), ("query", "unread")]),
    ("steps.message.room == chat_id && message_id || `null`",
     [("steps", "message", "room"), ("chat_id",), ("message_id",)]),
    ("body.media[?type == 'image'].url", [("body", "media")]),  # the filter reads items
    ("(query.q || body.text).x", [("query", "q"), ("body", "text")]),
    ("vars.a | b", [("vars", "a")]),
    ("ctx('steps.chat.members[0].id')", [("steps", "chat", "members")]),
    ("`\"lit\"`", []),
], ids=lambda v: v if isinstance(v, str) else None)
def test_template_reads(source, reads):
    assert list(template_reads(jmespath.compile(source).parsed)) == reads


@pytest.mark.parametrize("source,reads", [
    ("ctx('chat_id')", [("chat_id",)]),
    ("createdBy == ctx('vars.account_id') && 'outbound'", [("vars", "account_id")]),
    ("ctx(name)", ["ctx() takes one literal path, like ctx('chat_id')"]),
    ("ctx('a.[')", None),
    ("ctx('`1`')", ["ctx('`1`') must start with a context key, like ctx('steps.chat.id')"]),
    ("plain.field", []),
], ids=lambda v: v if isinstance(v, str) else None)
def test_ctx_reads(source, reads):
    found = list(ctx_reads(jmespath.compile(source).parsed))
    if reads is None:
        assert len(found) == 1 and "is not a valid path" in found[0]
    else:
        assert found == reads


SCOPE = Scope("send_message", {"chat_id": None, "query": frozenset(),
                               "body": frozenset({"text", "media"}),
                               "vars": frozenset({"team"}), "steps": frozenset({"chat"})})


@pytest.mark.parametrize("path,message", [
    (("chat_id",), None),
    (("body", "text"), None),
    (("steps", "chat", "anything"), None),
    (("chat",), "'chat' is not in the context of send_message; it has body, chat_id, query, "
               "steps, vars"),
    (("body", "txt"), "body.txt is not in the context of send_message; body has media, text"),
    (("query", "after"), "query.after is not in the context of send_message; query has nothing"),
    (("vars", "teem"), "vars.teem is not in the context of send_message; vars has team"),
    (("steps", "nope"), "steps.nope is not in the context of send_message; steps has chat"),
])
def test_scope(path, message):
    assert check_reads(iter([path]), SCOPE) == ([message] if message else [])
