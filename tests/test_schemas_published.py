"""The published JSON Schemas and the key reference are generated from the loader's own
schemas: the committed files must equal what the code generates, the shipped files name
their schema for editors, and they validate against it with `${VAR}` left unexpanded."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml
from jsonschema import Draft202012Validator

from gateway.config.published import SCHEMA_FILES, dump, published_schema
from gateway.config.reference import reference
from tests.conftest import ROOT

REGENERATE = ("python -m gateway schema {kind} > {file}; "
              "python -m gateway.config.reference > docs/reference.md")


@pytest.mark.parametrize("kind", sorted(SCHEMA_FILES))
def test_committed_schema_is_the_generated_one(kind):
    committed = (ROOT / SCHEMA_FILES[kind]).read_text(encoding="utf-8")
    assert committed == dump(kind), REGENERATE.format(kind=kind, file=SCHEMA_FILES[kind])


def test_committed_reference_is_the_generated_one():
    committed = (ROOT / "docs" / "reference.md").read_text(encoding="utf-8")
    assert committed == reference(), REGENERATE.format(kind="…", file="…")


def test_the_schema_command_prints_it():
    result = subprocess.run([sys.executable, "-m", "gateway", "schema", "routes"],
                            capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == published_schema("routes")


def shipped() -> list[tuple[str, str]]:
    mappings = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "mappings").glob("*.yaml"))
    return [("routes.yaml", "routes"), *((m, "mapping") for m in mappings)]


@pytest.mark.parametrize("file,kind", shipped(), ids=[f for f, _ in shipped()])
def test_shipped_files_name_and_pass_their_schema(file, kind):
    text = (ROOT / file).read_text(encoding="utf-8")
    depth = "../" * file.count("/")
    assert text.splitlines()[0] == \
        f"# yaml-language-server: $schema={depth}{SCHEMA_FILES[kind]}"
    validator = Draft202012Validator(published_schema(kind))
    errors = [f"{list(e.absolute_path)}: {e.message}"
              for e in validator.iter_errors(yaml.safe_load(text))]
    assert errors == []  # unexpanded ${VAR}s included


@pytest.mark.parametrize("kind,document,valid", [
    ("routes", {"cursor": {"secrets": ["x"], "ttl_seconds": "${TTL:-60}"},
                "upstreams": {"a": {"base_url": "${A_URL}", "mapping": "m.yaml"}},
                "routes": [{"name": "a", "upstream": "a"}]}, True),
    ("routes", {"cursor": {"secrets": ["x"], "ttl_seconds": "sixty"},
                "upstreams": {"a": {"base_url": "${A_URL}", "mapping": "m.yaml"}},
                "routes": [{"name": "a", "upstream": "a"}]}, False),
    ("mapping", {"auth": {"type": "none"}, "operations": {"list_chats": {
        "request": {"method": "GET", "path": "/c"}, "response": {"items": "@"},
        "pagination": {"type": "none", "page_size": 5}}}}, False),
], ids=["env-number", "not-a-number", "key-of-another-type"])
def test_the_published_schema_accepts_env_references_and_nothing_else(kind, document, valid):
    assert Draft202012Validator(published_schema(kind)).is_valid(document) is valid
