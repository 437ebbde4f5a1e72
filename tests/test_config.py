"""Config loading: every error names file, line and path; a bad reload changes nothing."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.config.loader import load_config
from gateway.errors import ConfigError
from tests.conftest import AUTH, ROOT, ROUTES, edit

DEMO_ENV = {
    "GATEWAY_API_KEYS": "k" * 12, "GATEWAY_CURSOR_SECRET": "s" * 20,
    "SPURTCOMMERCE_BASE_URL": "http://127.0.0.1:1/backend/api", "SPURTCOMMERCE_TOKEN": "t" * 8,
    "SMARTSENDER_BASE_URL": "http://127.0.0.1:1/v1", "SMARTSENDER_TOKEN": "t" * 8,
    "STOREDEN_BASE_URL": "http://127.0.0.1:1/v1.1", "STOREDEN_KEY": "k" * 8,
    "STOREDEN_EXCHANGE": "e" * 8, "SUPEROFFICE_BASE_URL": "http://127.0.0.1:1/api/v1",
    "SUPEROFFICE_AUTH": "SoTicket 7T:abc", "HAPIHUB_BASE_URL": "http://127.0.0.1:1",
    "HAPIHUB_TOKEN": "t" * 8, "SLACK_BASE_URL": "http://127.0.0.1:1/api", "SLACK_TOKEN": "t" * 8,
    "GITHUB_BASE_URL": "http://127.0.0.1:1", "GITHUB_TOKEN": "t" * 8, "GITHUB_OWNER": "o",
    "GITHUB_REPO": "r",
}


def line_of(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


def test_shipped_config_loads():
    config = load_config(ROUTES, DEMO_ENV)
    assert set(config.routes) == {"spurtcommerce", "smartsender", "storeden", "superoffice",
                                  "hapihub", "slack", "github"}
    assert config.routes["storeden"].operations == {"list_chats", "list_messages", "send_message"}


@pytest.mark.parametrize("file,old,new,needle,path,message", [
    ("mappings/storeden.yaml", "        title: name\n", "        titel: name\n", "titel: name",
     "operations.list_chats.response.fields.titel", "not a canonical field"),
    ("mappings/storeden.yaml", "items: messages", "items: 'messages[?'", "items: 'messages[?'",
     "operations.list_messages.response.items", "invalid JMESPath"),
    ("mappings/storeden.yaml", "type: next_url", "type: next_link", "type: next_link",
     "operations.list_messages.pagination.type", "is not one of"),
    ("mappings/hapihub.yaml", "auth: {type: bearer,", "auth: {type: oauth9,", "auth: {type: oauth9",
     "auth.type", "is not one of"),
    ("mappings/smartsender.yaml", "  close_chat:\n", "  close_the_chat:\n", "close_the_chat:",
     "operations.close_the_chat", "is not one of"),
    ("mappings/superoffice.yaml", "sent_at: WhenPosted", "sent_at: {from: WhenPosted, as: date}",
     "as: date}", "operations.list_messages.response.fields.sent_at", "unknown conversion"),
    ("routes.yaml", "{name: hapihub, upstream: hapihub}", "{name: hapihub, upstream: hapihab}",
     "upstream: hapihab", "routes[4].upstream", "no upstream named 'hapihab'"),
    ("routes.yaml", "total: ${GATEWAY_UPSTREAM_TIMEOUT_SECONDS:-5}", "total: -5",
     "total: -5", "upstreams.spurtcommerce.timeout.total", "less than or equal to the minimum of 0"),
], ids=["unknown-field", "bad-jmespath", "unknown-paginator", "unknown-auth",
        "unknown-operation", "unknown-conversion", "unknown-upstream", "negative-timeout"])
def test_errors_name_file_line_and_path(config_dir, file, old, new, needle, path, message):
    target = config_dir / file
    edit(target, old, new)
    with pytest.raises(ConfigError) as caught:
        load_config(config_dir / "routes.yaml", DEMO_ENV)
    error = caught.value
    assert Path(error.file).name == target.name
    assert error.line == line_of(target, needle), str(error)
    assert error.path == path, str(error)
    assert message in error.message, str(error)
    assert str(error).startswith(f"{error.file}:{error.line} {path}: ")


def test_missing_environment_variable_is_located(config_dir):
    env = {k: v for k, v in DEMO_ENV.items() if k != "STOREDEN_KEY"}
    with pytest.raises(ConfigError) as caught:
        load_config(config_dir / "routes.yaml", env)
    assert caught.value.line == line_of(config_dir / "routes.yaml", "${STOREDEN_KEY}")
    assert "STOREDEN_KEY is not set" in str(caught.value)


def test_yaml_syntax_error_is_located(config_dir):
    target = config_dir / "mappings" / "hapihub.yaml"
    edit(target, "format: json", "format: [json")
    with pytest.raises(ConfigError) as caught:
        load_config(config_dir / "routes.yaml", DEMO_ENV)
    assert "hapihub.yaml" in str(caught.value) and caught.value.line is not None


def test_duplicate_key_is_an_error(config_dir):
    target = config_dir / "mappings" / "storeden.yaml"
    edit(target, "format: json\n", "format: json\nformat: xml\n")
    with pytest.raises(ConfigError, match="duplicate key 'format'"):
        load_config(config_dir / "routes.yaml", DEMO_ENV)


def test_weak_cursor_secret_is_refused(config_dir):
    with pytest.raises(ConfigError, match="at least 16 characters"):
        load_config(config_dir / "routes.yaml", {**DEMO_ENV, "GATEWAY_CURSOR_SECRET": "short"})


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gateway", *args], capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, cwd=ROOT, timeout=60)


def test_check_command_accepts_the_shipped_config():
    result = run_cli("check", "--config", str(ROUTES), env=DEMO_ENV)
    assert result.returncode == 0, result.stderr
    assert "ok:" in result.stdout and "storeden: mappings/storeden.yaml" in result.stdout


def test_check_command_rejects_a_broken_mapping(config_dir):
    target = config_dir / "mappings" / "storeden.yaml"
    edit(target, "        title: name\n", "        titel: name\n")
    result = run_cli("check", "--config", str(config_dir / "routes.yaml"), env=DEMO_ENV)
    assert result.returncode == 1
    line = line_of(target, "titel: name")
    assert f"storeden.yaml:{line} operations.list_chats.response.fields.titel:" in result.stderr


async def test_bad_reload_keeps_the_last_good_config(aiohttp_client, config_dir, gateway_env):
    from gateway.server import create_app
    from gateway.state import STATE

    app = create_app(config_dir / "routes.yaml", gateway_env)
    client = await aiohttp_client(app)
    state = app[STATE]
    before = state.config
    edit(config_dir / "mappings" / "storeden.yaml", "items: messages", "items: 'messages[?'")
    assert state.reload() is False
    assert state.config is before
    response = await client.get("/v1/storeden/chats/49077/messages?limit=2", headers=AUTH)
    assert response.status == 200
    metrics = await (await client.get("/metrics")).text()
    assert 'chat_gateway_config_loads_total{result="failure"} 1.0' in metrics
    assert "chat_gateway_config_last_load_success 0.0" in metrics
    # a good edit is picked up by the next reload, atomically
    edit(config_dir / "mappings" / "storeden.yaml", "items: 'messages[?'", "items: messages")
    edit(config_dir / "routes.yaml", "{name: storeden, upstream: storeden}",
         "{name: storeden, upstream: storeden, operations: [list_chats]}")
    edit(config_dir / "routes.yaml", "log_level: ${GATEWAY_LOG_LEVEL:-INFO}", "log_level: ERROR")
    assert state.reload() is True
    assert logging.getLogger("chat_gateway").level == logging.ERROR
    response = await client.get("/v1/storeden/chats/49077/messages", headers=AUTH)
    assert response.status == 501
    metrics = await (await client.get("/metrics")).text()
    assert f'chat_gateway_config_info{{sha256="{state.config.sha256}"}} 1.0' in metrics
    assert f'sha256="{before.sha256}"' not in metrics
