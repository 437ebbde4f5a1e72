"""`chat-gateway test-mappings` and the fixture runner: a mapping mistake shows up as a
readable diff and exit status 1; bad fixture files say file:line path."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.cli import main
from gateway.tools.fixtures import load_fixture_file, run_file
from tests.conftest import ROUTES, edit


def test_shipped_fixtures_pass(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["test-mappings", "--config", str(ROUTES)]) == 0
    out = capsys.readouterr().out
    assert "0 failed" in out and "ok   storeden · send is a form-encoded POST" in out


def test_a_wrong_query_parameter_is_a_diff_and_exit_1(config_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    edit(config_dir / "mappings" / "hapihub.yaml", '"$sort[createdAt]": "-1"', '"$sort[createdAt]": "1"')
    assert main(["test-mappings", "--config", str(config_dir / "routes.yaml"), "hapihub"]) == 1
    out = capsys.readouterr().out
    assert "FAIL hapihub · newest first with $skip/$limit, asking one more than needed" in out
    assert "-      $sort[createdAt]: '-1'\n+      $sort[createdAt]: '1'\n" in out
    assert "(expected)\n+++ gateway (actual)\n" in out
    assert "3 passed, 1 failed" in out


async def test_a_wrong_field_is_a_diff_of_the_result(config_dir: Path) -> None:
    edit(config_dir / "mappings" / "storeden.yaml", "        text: message\n", "        text: from_id\n")
    results = await run_file(load_fixture_file(config_dir / "mappings" / "fixtures" / "storeden.yaml"))
    failed = {r.name: r.diff() for r in results if not r.ok}
    assert set(failed) == {"a canonical page spans two upstream pages through next_page"}
    diff = failed.popitem()[1]
    assert "-        text: Lorem Ipsum 4\n+        text: '132'\n" in diff


async def test_an_unanswered_request_and_a_missing_one_both_show(config_dir: Path) -> None:
    fixture = config_dir / "mappings" / "fixtures" / "smartsender.yaml"
    edit(fixture, "      - request: {method: GET, path: /chats/7001}\n", "      - request: {method: GET, path: /chats/7001}\n"
         "        answer: {body: {id: 7001, contact: {id: 9001}}}\n"
         "      - request: {method: GET, path: /chats/7001/extra}\n")
    [result] = await run_file(load_fixture_file(fixture), only="send reads the chat for its contact, then posts to the contact")
    assert not result.ok
    assert "-  - method: GET\n-    path: /chats/7001/extra" in result.diff()


def test_unknown_name_is_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["test-mappings", "--config", str(ROUTES), "nosuchvendor"]) == 2
    assert "nosuchvendor" in capsys.readouterr().err


def test_bad_fixture_file_names_file_line_and_path(config_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fixture = config_dir / "mappings" / "fixtures" / "hapihub.yaml"
    edit(fixture, "    call: {method: GET, path: /chats}\n", "    call: {method: GET, path: /chats, limit: 3}\n")
    assert main(["test-mappings", "--config", str(config_dir / "routes.yaml"), "hapihub"]) == 1
    out = capsys.readouterr().out
    line = next(i for i, text in enumerate(fixture.read_text().splitlines(), 1) if "limit: 3}" in text)
    assert f"hapihub.yaml:{line} cases[3].call" in out and "'limit' was unexpected" in out


async def test_following_a_missing_cursor_is_an_error(config_dir: Path) -> None:
    fixture = config_dir / "mappings" / "fixtures" / "superoffice.yaml"
    edit(fixture, "        next_cursor: null\n", "        next_cursor: null\n    then: [{result: {status: 200}}]\n")
    [result] = await run_file(load_fixture_file(fixture), only="messages after an id, native, served newest first")
    assert result.error is not None and "no next_cursor to follow" in result.error


async def test_a_broken_mapping_fails_every_case_with_the_config_error(config_dir: Path) -> None:
    edit(config_dir / "mappings" / "storeden.yaml", "type: next_url", "type: next_link")
    results = await run_file(load_fixture_file(config_dir / "mappings" / "fixtures" / "storeden.yaml"))
    assert results and all(r.error and r.error.startswith("config: ") and "next_link" in r.error for r in results)


async def test_request_headers_are_compared_as_a_subset(config_dir: Path) -> None:
    fixture = config_dir / "mappings" / "fixtures" / "hapihub.yaml"
    edit(fixture, "headers: {Authorization: Bearer fx-token}", "headers: {Authorization: Bearer fx-other, X-Missing: x}")
    [result] = await run_file(load_fixture_file(fixture), only="newest first with $skip/$limit, asking one more than needed")
    diff = result.diff()
    assert "-      Authorization: Bearer fx-other\n-      X-Missing: x\n+      Authorization: Bearer fx-token\n+      X-Missing: null\n" in diff


def test_a_new_mapping_with_fixtures_joins_the_run(config_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """No Python edit: a mapping file and its fixture file are found by their folder."""
    mappings = config_dir / "mappings"
    (mappings / "acme.yaml").write_text((mappings / "storeden.yaml").read_text())
    fixtures = (mappings / "fixtures" / "storeden.yaml").read_text().replace("storeden answered", "acme answered")
    (mappings / "fixtures" / "acme.yaml").write_text(fixtures.replace("upstream 'storeden'", "upstream 'acme'")
                                                     .replace("upstream: storeden", "upstream: acme"))
    assert main(["test-mappings", "--config", str(config_dir / "routes.yaml")]) == 0
    out = capsys.readouterr().out
    assert "ok   acme · send is a form-encoded POST" in out and "0 failed" in out
