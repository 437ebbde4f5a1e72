"""Which context variables an expression reads, checked against those that exist where
it runs — so `{query.afer}`, `{chat_idd}`, `ctx('chat')` or `{steps.nope.id}` fail
`check` instead of silently reading null at run time.

A template reads the context directly (`{query.after}`); any expression reads it through
`ctx('…')`, whose argument must be a literal JMESPath. Only the first two keys of a path
are checked (`steps.chat` must be an earlier step; what is inside it is the upstream's).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, cast

import jmespath
import jmespath.exceptions

__all__ = ["Scope", "template_reads", "ctx_reads", "check_reads"]

Path = tuple[str, ...]

# Node types whose right-hand side is evaluated against each element, not the current node.
# (`a.b`, `a[0]` with a left side that is not plain field access: only the left is read.)
_ELEMENT_WISE = {"projection", "value_projection", "filter_projection", "pipe", "flatten",
                 "subexpression", "index_expression"}


@dataclass(frozen=True)
class Scope:
    """The context at one place: each top-level key and the names under it (None: any)."""

    where: str
    keys: dict[str, frozenset[str] | None] = field(default_factory=dict)

    def problem(self, path: Path) -> str | None:
        if not path:
            return None
        top = path[0]
        if top not in self.keys:
            return (f"{top!r} is not in the context of {self.where}; "
                    f"it has {', '.join(sorted(self.keys)) or 'nothing'}")
        allowed = self.keys[top]
        if allowed is not None and len(path) > 1 and path[1] not in allowed:
            have = ", ".join(sorted(allowed)) or "nothing"
            return f"{top}.{path[1]} is not in the context of {self.where}; {top} has {have}"
        return None


def _chain(node: dict[str, Any]) -> Path | None:
    """The keys of `a.b[0].c`-like access from the current node; None if not one."""
    kind = node["type"]
    if kind == "field":
        return (node["value"],)
    if kind == "subexpression":  # `a.b.c`: children a, b, c; stops at `a.{x: y}`
        head: Path = ()
        for index, child in enumerate(node["children"]):
            part = _chain(child)
            if part is None:
                return head or None
            head += part
            if child["type"] != "field" and index:
                break  # `a.b[0].c`: only the keys up to an index are the context's
        return head
    if kind == "index_expression":
        return _chain(node["children"][0])
    return None


def _reads(node: dict[str, Any]) -> Iterator[Path]:
    """Paths read from the current node (not from elements of a projection or filter)."""
    chain = _chain(node)
    if chain is not None:
        yield chain
        return
    kind = node["type"]
    children = node.get("children", [])
    if kind in _ELEMENT_WISE:
        if children:
            yield from _reads(children[0])
        return
    if kind == "expref":
        return
    for child in children:
        yield from _reads(child)


def _calls(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    if node.get("type") == "function_expression" and node.get("value") == "ctx":
        yield node
    for child in node.get("children", []):
        if isinstance(child, dict):
            yield from _calls(child)


def ctx_reads(parsed: dict[str, Any]) -> Iterator[Path | str]:
    """Each `ctx('…')` path, or a message when the argument is not a literal JMESPath."""
    for call in _calls(parsed):
        args = call["children"]
        if len(args) != 1 or args[0]["type"] != "literal" or not isinstance(args[0]["value"], str):
            yield "ctx() takes one literal path, like ctx('chat_id')"
            continue
        try:
            inner = jmespath.compile(args[0]["value"]).parsed
        except jmespath.exceptions.JMESPathError as exc:
            yield f"ctx({args[0]['value']!r}) is not a valid path: {exc}"
            continue
        chain = _chain(cast(dict[str, Any], inner))
        yield chain if chain is not None else f"ctx({args[0]['value']!r}) must start with a " \
                                              "context key, like ctx('steps.chat.id')"


def template_reads(parsed: dict[str, Any]) -> Iterator[Path | str]:
    """What a template placeholder reads: the context directly, and through ctx()."""
    yield from _reads(parsed)
    yield from ctx_reads(parsed)


def check_reads(reads: Iterator[Path | str], scope: Scope) -> list[str]:
    """Messages for every read the scope does not have (each message once)."""
    out: list[str] = []
    for read in reads:
        message = read if isinstance(read, str) else scope.problem(read)
        if message and message not in out:
            out.append(message)
    return out
