"""`chat-gateway try`: offline with --answer files, and live against an emulator with
--trace, credentials redacted from everything printed."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest

from gateway.cli import main
from gateway.emulators import RECORDED, start_emulators
from gateway.emulators.slack import DEMO_TOKEN as SLACK_TOKEN
from tests.conftest import ROOT, ROUTES


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("GATEWAY_", "SLACK_", "GITHUB_", "STOREDEN_")):
            monkeypatch.delenv(name)


def test_offline_shows_the_request_and_the_canonical_result(tmp_path: Path, clean_env: None,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    answer = tmp_path / "history.json"
    answer.write_text('{"ok": true, "has_more": false, "messages": '
                      '[{"type": "message", "user": "U1", "text": "a &lt; b", "ts": "1712050200.000230"}]}')
    code = main(["try", "slack", "list_messages", "--config", str(ROUTES), "--demo-env",
                 "--chat-id", "C0GENERAL", "--query", "limit=2", "--answer", str(answer)])
    out = capsys.readouterr().out
    assert code == 0
    assert "--> 1. GET http://127.0.0.1:9/api/conversations.history?channel=C0GENERAL&limit=15" in out
    assert "    Authorization: [redacted]" in out and SLACK_TOKEN not in out
    assert "<-- 1. 200" in out and "canonical result: 200" in out
    result = json.loads(out.split("canonical result: 200\n", 1)[1])
    assert result["data"][0]["text"] == "a < b" and result["next_cursor"] is None


def test_offline_yaml_answer_with_status_and_two_calls(tmp_path: Path, clean_env: None,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    first = tmp_path / "history.yaml"
    first.write_text("body: {ok: true, messages: [{ts: '1712050200.000230', text: x, user: U1}]}\n")
    second = tmp_path / "mark.yaml"
    second.write_text("status: 200\nbody: {ok: false, error: invalid_timestamp}\n")
    code = main(["try", "slack", "mark_chat_read", "--config", str(ROUTES), "--demo-env",
                 "--chat-id", "D0ANA0001", "--answer", str(first), "--answer", str(second)])
    out = capsys.readouterr().out
    assert code == 1
    assert '--> 2. POST http://127.0.0.1:9/api/conversations.mark' in out
    assert '{"channel":"D0ANA0001","ts":"1712050200.000230"}' in out.replace(" ", "")
    assert "canonical result: 404" in out and "invalid_timestamp" in out  # an errors rule of slack.yaml


@pytest.mark.parametrize("argv,message", [
    (["try", "slack", "list_everything"], "unknown operation"),
    (["try", "slack", "get_chat"], "needs --chat-id"),
    (["try", "slack", "list_chats", "--query", "limit"], "NAME=VALUE"),
    (["try", "slack", "send_message", "--chat-id", "C1", "--body", "{nope"], "Expecting"),
], ids=["operation", "chat-id", "query", "body"])
def test_bad_arguments_are_exit_2(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    assert message in capsys.readouterr().err


async def test_live_with_trace_against_an_emulator(clean_env: None) -> None:
    async with await start_emulators(names=["slack", "github"]) as running:
        env = {**{k: v for k, v in os.environ.items()}, **running.env()}
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "gateway", "try", "slack", "send_message", "--config", str(ROUTES),
            "--demo-env", "--chat-id", "C0RANDOM1", "--body", '{"text": "hello from try"}', "--trace",
            cwd=ROOT, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
        text = out.decode()
        assert proc.returncode == 0, err.decode()
        assert f"--> 1. POST {running.base_urls['slack']}/chat.postMessage" in text
        assert "Content-Type: application/json; charset=utf-8" in text and "<-- 1. 200" in text
        assert SLACK_TOKEN not in text and "Authorization: [redacted]" in text
        assert '"text": "hello from try"' in text and "canonical result: 201" in text
        [sent] = running.apps["slack"][RECORDED]
        assert sent.headers["Authorization"] == f"Bearer {SLACK_TOKEN}"
