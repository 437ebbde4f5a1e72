"""Configuration from the environment as operators give it: one vendor only, secrets in
files, every missing variable at once, numeric keys, and `.env.example` kept complete."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys

import pytest
import yaml

from gateway.config.loader import load_config
from gateway.errors import ConfigError
from gateway.logs import JsonFormatter
from gateway.server import create_app
from tests.conftest import ROOT, ROUTES, edit
from tests.test_config import DEMO_ENV, line_of

ENV_EXAMPLE = ROOT / ".env.example"
COMMON = {"GATEWAY_API_KEYS": "k" * 12, "GATEWAY_CURSOR_SECRET": "s" * 20}
STOREDEN = {k: v for k, v in DEMO_ENV.items() if k.startswith("STOREDEN_")}
# every shipped upstream but storeden -> the variable its base_url reads
BASE_URL_OF = {name: re.match(r"\$\{(\w+)\}$", spec["base_url"]).group(1)  # type: ignore[union-attr]
               for name, spec in yaml.safe_load(ROUTES.read_text())["upstreams"].items()
               if name != "storeden"}


def test_one_vendor_needs_only_its_own_variables():
    config = load_config(ROUTES, {**COMMON, **STOREDEN})
    assert set(config.routes) == {"storeden"}
    assert config.disabled == BASE_URL_OF


async def test_routes_to_a_disabled_upstream_disappear_with_one_info_line_each(
        aiohttp_client, emulators):
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.DEBUG)
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger("chat_gateway")
    saved = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        env = {**COMMON, **{k: v for k, v in emulators.env().items() if k.startswith("STOREDEN")}}
        client = await aiohttp_client(create_app(ROUTES, env))
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved)
    auth = {"Authorization": f"Bearer {COMMON['GATEWAY_API_KEYS']}"}
    listed = await (await client.get("/v1/upstreams", headers=auth)).json()
    assert [route["name"] for route in listed["data"]] == ["storeden"]
    assert (await client.get("/v1/storeden/chats", headers=auth)).status == 200
    assert (await client.get("/v1/hapihub/chats", headers=auth)).status == 404
    lines = [json.loads(JsonFormatter().format(r)) for r in records
             if r.getMessage() == "upstream disabled"]
    assert sorted((line["upstream"], line["unset"], line["level"]) for line in lines) == sorted(
        (name, variable, "info") for name, variable in BASE_URL_OF.items())


def test_every_missing_variable_is_named_in_one_error(config_dir):
    routes = config_dir / "routes.yaml"
    env = {"GATEWAY_CURSOR_SECRET": "s" * 20, "STOREDEN_BASE_URL": STOREDEN["STOREDEN_BASE_URL"]}
    with pytest.raises(ConfigError) as caught:
        load_config(routes, env)
    lines = str(caught.value).splitlines()
    assert lines == [
        f"{routes}:{line_of(routes, '${GATEWAY_API_KEYS}')} consumers[0].keys: environment "
        "variable GATEWAY_API_KEYS is not set (set it or GATEWAY_API_KEYS_FILE, or write "
        "${GATEWAY_API_KEYS:-default})",
        *(f"{routes}:{line_of(routes, '${' + name + '}')} upstreams.storeden.credentials."
          f"{key}: environment variable {name} is not set (set it or {name}_FILE, or write "
          f"${{{name}:-default}})" for key, name in (("key", "STOREDEN_KEY"),
                                                    ("exchange", "STOREDEN_EXCHANGE"))),
    ]


def test_an_enabled_optional_upstream_still_needs_its_credentials():
    env = {**COMMON, **{k: v for k, v in STOREDEN.items() if k != "STOREDEN_EXCHANGE"}}
    with pytest.raises(ConfigError, match="STOREDEN_EXCHANGE is not set"):
        load_config(ROUTES, env)


def test_no_vendor_configured_is_an_error_naming_the_base_urls():
    with pytest.raises(ConfigError) as caught:
        load_config(ROUTES, COMMON)
    assert caught.value.path == "upstreams"
    assert len(BASE_URL_OF) >= 4
    for variable in [*BASE_URL_OF.values(), "STOREDEN_BASE_URL"]:
        assert variable in str(caught.value)


@pytest.mark.parametrize("declared", ["", "    optional: false\n"], ids=["unsaid", "false"])
def test_an_upstream_that_is_not_optional_is_never_skipped(config_dir, declared):
    routes = config_dir / "routes.yaml"
    edit(routes, "  hapihub:\n    optional: true\n", "  hapihub:\n" + declared)
    with pytest.raises(ConfigError, match="HAPIHUB_BASE_URL is not set"):
        load_config(routes, {**COMMON, **STOREDEN})


def test_errors_in_routes_after_a_removed_one_keep_their_line(config_dir):
    routes = config_dir / "routes.yaml"
    edit(routes, "  - {name: hapihub, upstream: hapihub}\n",
         "  - {name: hapihub, upstream: hapihub}\n  - {name: ghost, upstream: nosuch}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(routes, {**COMMON, **STOREDEN})
    assert (caught.value.line, caught.value.path) == (line_of(routes, "name: ghost"),
                                                      "routes[1].upstream")


def test_secrets_can_come_from_files(tmp_path):
    keys = tmp_path / "keys"
    keys.write_text("  key-from-a-file-1,key-from-a-file-2\n")
    token = tmp_path / "exchange"
    token.write_text("exchange-from-a-file\n")
    env = {**COMMON, **STOREDEN, "GATEWAY_API_KEYS_FILE": str(keys),
           "STOREDEN_EXCHANGE_FILE": str(token)}
    del env["GATEWAY_API_KEYS"], env["STOREDEN_EXCHANGE"]
    config = load_config(ROUTES, env)
    assert len(config.consumers) == 2
    assert "exchange-from-a-file" in config.secrets  # the trimmed content, redacted in logs


def test_an_unreadable_secret_file_is_located(tmp_path):
    env = {**COMMON, **STOREDEN, "STOREDEN_KEY_FILE": str(tmp_path / "absent")}
    del env["STOREDEN_KEY"]
    with pytest.raises(ConfigError) as caught:
        load_config(ROUTES, env)
    assert caught.value.line == line_of(ROUTES, "${STOREDEN_KEY}")
    assert f"cannot read STOREDEN_KEY_FILE={tmp_path / 'absent'}" in str(caught.value)


def test_a_numeric_api_key_stays_text():
    config = load_config(ROUTES, {**COMMON, **STOREDEN, "GATEWAY_API_KEYS": "1234567890123"})
    assert len(config.consumers) == 1


def _example() -> dict[str, str]:
    """Every `VAR=value` of .env.example, commented out or not."""
    pairs = re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=(.*)$", ENV_EXAMPLE.read_text(), re.M)
    return dict(pairs)


def test_env_example_names_every_variable_routes_yaml_reads():
    code = "\n".join(line.split("#")[0] for line in ROUTES.read_text().splitlines())
    used = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", code))
    assert "GATEWAY_API_KEYS" in used and "STOREDEN_BASE_URL" in used
    assert used - set(_example()) == set()


def test_env_example_as_shipped_is_a_working_one_vendor_config():
    uncommented = dict(re.findall(r"^([A-Z][A-Z0-9_]*)=(.*)$", ENV_EXAMPLE.read_text(), re.M))
    config = load_config(ROUTES, uncommented)
    assert len(config.routes) == 1
    assert load_config(ROUTES, _example()).disabled == {}  # and with everything uncommented


def test_check_names_the_disabled_upstreams():
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_BASE_URL", "_BASE_URL_FILE"))}
    result = subprocess.run([sys.executable, "-m", "gateway", "check", "--config", str(ROUTES)],
                            capture_output=True, text=True, cwd=ROOT, timeout=60,
                            env={**env, **COMMON, **STOREDEN})
    assert result.returncode == 0, result.stderr
    assert "hapihub: disabled (HAPIHUB_BASE_URL is not set)" in result.stdout
    assert "ok:" in result.stdout and "(1 routes," in result.stdout
