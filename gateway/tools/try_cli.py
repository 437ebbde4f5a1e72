"""`chat-gateway try ROUTE OPERATION`: one canonical call through the real gateway,
showing the upstream request(s) it builds and the canonical result.

    chat-gateway try ROUTE list_messages --chat-id CHAT --query limit=3 --answer page.json
    chat-gateway try ROUTE send_message --chat-id CHAT --body '{"text": "hi"}' --trace

With `--answer FILE` (once per upstream call, in order) nothing leaves the machine: each
file is the upstream's answer — a `.yaml`/`.yml` file holds `{status, headers, body}`
(as in mapping fixtures), any other file is the body itself (JSON or XML) with status 200.
Without it, the call goes to the upstream configured in routes.yaml, and `--trace` prints
each upstream request and response. Credentials are redacted from everything printed.
Exits 0 when the canonical status is below 400, 1 otherwise, 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import yaml
from yarl import URL

__all__ = ["register"]

_SENSITIVE = {"authorization", "proxy-authorization", "cookie", "set-cookie"}
_SHOWN = 2000  # characters of a body printed


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("try", help="one canonical call: the upstream request built and the result",
                                 description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("route", help="a route name from routes.yaml")
    parser.add_argument("operation", help="a canonical operation, e.g. list_messages")
    parser.add_argument("--config", type=Path, default=None)
    parser.add_argument("--demo-env", action="store_true",
                        help="fill unset upstream variables with the demo's values")
    parser.add_argument("--chat-id")
    parser.add_argument("--message-id")
    parser.add_argument("--query", action="append", default=[], metavar="K=V",
                        help="a canonical query parameter (repeatable)")
    parser.add_argument("--body", help="the canonical JSON body")
    parser.add_argument("--answer", action="append", type=Path, default=[], metavar="FILE",
                        help="the upstream's answer, offline (repeat for each upstream call)")
    parser.add_argument("--trace", action="store_true", help="print each upstream request and response")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..canonical import OPERATIONS
    from ..cli import _demo_env, default_config_path
    from ..errors import ConfigError

    operation = OPERATIONS.get(args.operation)
    if operation is None:
        return _usage(f"unknown operation {args.operation!r}; one of {sorted(OPERATIONS)}")
    try:
        path = _path(operation.path, {"chat_id": args.chat_id, "message_id": args.message_id})
        query = dict(_pair(item) for item in args.query)
        body = json.loads(args.body) if args.body is not None else None
        answers = [_answer_file(p) for p in args.answer]
    except (ValueError, OSError, yaml.YAMLError) as exc:
        return _usage(str(exc))
    env = {**(_demo_env({}) if args.demo_env else {}), **os.environ}
    env.setdefault("GATEWAY_API_KEYS", "try-" + secrets.token_urlsafe(16))
    env.setdefault("GATEWAY_CURSOR_SECRET", secrets.token_urlsafe(24))
    key = env["GATEWAY_API_KEYS"].split(",")[0].strip()
    call = (operation.method, f"/v1/{args.route}{path}", query, body, key)
    try:
        return asyncio.run(_try(args.config or default_config_path(), env, call, answers,
                                trace=args.trace or bool(answers)))
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


async def _try(config: Path, env: Mapping[str, str], call: tuple[Any, ...], answers: list[Any],
               *, trace: bool) -> int:
    import aiohttp

    from ..state import STATE
    from .offline import InProcessGateway, RecordingSession, ScriptedSession

    method, path, query, body, key = call
    session: Any = ScriptedSession(answers) if answers else RecordingSession(aiohttp.ClientSession())
    try:
        gateway = InProcessGateway(config, env, session, clock=time.time)
        async with gateway:
            answer = await gateway.call(method, path, query=query, body=body,
                                        headers={"Authorization": f"Bearer {key}"})
            redact = _Redactor(gateway.app[STATE].config, path.split("/")[2])
    finally:
        await session.close()
    print(f"canonical call: {method} {URL(path).with_query(query)}")
    if trace:
        for number, exchange in enumerate(session.exchanges, 1):
            print(redact.exchange(number, exchange))
    if not session.exchanges:
        print("(no upstream call)")
    print(f"canonical result: {answer.status}")
    if answer.body is not None:
        print(json.dumps(answer.body, ensure_ascii=False, indent=2))
    return 0 if answer.status < 400 else 1


class _Redactor:
    """Hides the route's credentials: its auth headers and query parameters, any
    Authorization or Cookie header, and every configured secret wherever it appears."""

    def __init__(self, config: Any, route: str) -> None:
        upstream = config.routes[route].upstream if route in config.routes else None
        self._headers = _SENSITIVE | {h.lower() for h in (upstream.auth.headers if upstream else {})}
        self._query = set(upstream.auth.query) if upstream else set()
        self._secrets = tuple(config.secrets)

    def text(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "[redacted]")
        return text

    def exchange(self, number: int, exchange: Any) -> str:
        url = exchange.url.with_query({k: "[redacted]" if k in self._query else v
                                       for k, v in exchange.url.query.items()})
        lines = [f"--> {number}. {exchange.method} {self.text(str(url))}"]
        lines += self._headers_of(exchange.headers)
        if exchange.body:
            lines.append(self._body(exchange.body))
        answer = exchange.answer
        if answer is None:
            return "\n".join(lines)
        if answer.fault:
            lines.append(f"<-- {number}. {answer.fault}")
            return "\n".join(lines)
        lines.append(f"<-- {number}. {answer.status}")
        lines += self._headers_of(answer.headers)
        if answer.body:
            lines.append(self._body(answer.body))
        return "\n".join(lines)

    def _headers_of(self, headers: Mapping[str, str]) -> list[str]:
        return [f"    {name}: {'[redacted]' if name.lower() in self._headers else self.text(str(value))}"
                for name, value in headers.items()]

    def _body(self, body: bytes) -> str:
        text = self.text(body.decode("utf-8", "replace")).strip()
        if len(text) > _SHOWN:
            text = text[:_SHOWN] + f"… ({len(body)} bytes)"
        return "    " + text.replace("\n", "\n    ")


def _path(template: str, ids: dict[str, str | None]) -> str:
    for name, value in ids.items():
        placeholder = "{" + name + "}"
        if placeholder in template:
            if not value:
                raise ValueError(f"this operation needs --{name.replace('_', '-')}")
            template = template.replace(placeholder, quote(value, safe=""))
    return template


def _pair(item: str) -> tuple[str, str]:
    name, sep, value = item.partition("=")
    if not sep or not name:
        raise ValueError(f"--query takes NAME=VALUE, got {item!r}")
    return name, value


def _answer_file(path: Path) -> Any:
    from .fixtures import answer_of

    text = path.read_text(encoding="utf-8")
    if path.suffix in (".yaml", ".yml"):
        spec = yaml.safe_load(text)
        if not isinstance(spec, dict) or not set(spec) <= {"status", "headers", "body", "fault"}:
            raise ValueError(f"{path}: an answer file holds status, headers, body or fault")
        return answer_of(spec)
    return answer_of({"body": text, "headers": {"Content-Type": _content_type(path, text)}})


def _content_type(path: Path, text: str) -> str:
    if path.suffix == ".xml" or text.lstrip().startswith("<"):
        return "application/xml"
    return "application/json"


def _usage(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2
