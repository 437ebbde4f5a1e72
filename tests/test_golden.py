"""One golden test per mapping file: fixed canonical calls against freshly seeded
emulators, compared with `tests/golden/<upstream>.json` byte for byte (as JSON).

A deliberate mapping change shows up here as a readable diff. To accept it, run
`UPDATE_GOLDEN=1 pytest tests/test_golden.py` and review the golden files' diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import AUTH, ROOT

GOLDEN = Path(__file__).parent / "golden"
MAPPINGS = sorted(p.stem for p in (ROOT / "mappings").glob("*.yaml"))

CALLS: dict[str, list[str]] = {
    "spurtcommerce": ["/me", "/chats", "/chats/1/messages?limit=4", "/chats/5/messages?include=raw",
                      "/chats/4/messages"],
    "smartsender": ["/chats?limit=3", "/chats/7001", "/chats/7003/messages?include=raw",
                    "/chats?state=closed", "/chats/7001/messages?limit=2"],
    "storeden": ["/chats", "/chats/48617/messages?include=raw", "/chats/49077/messages?limit=3",
                 "/chats/49150/messages"],
    "superoffice": ["/chats?limit=2", "/chats/342", "/chats/342/messages?include=raw",
                    "/chats/341/messages?limit=3&after=985"],
    "hapihub": ["/chats", "/chats/room-005", "/chats/room-005/messages?limit=4&include=raw",
                "/chats/room-002/messages/msg-000121"],
}


def test_every_mapping_has_golden_calls():
    assert sorted(CALLS) == MAPPINGS


@pytest.mark.parametrize("upstream", MAPPINGS)
async def test_golden(gateway, upstream):
    answers = {}
    for path in CALLS[upstream]:
        response = await gateway.get(f"/v1/{upstream}{path}", headers=AUTH)
        answers[path] = {"status": response.status, "body": await response.json()}
    target = GOLDEN / f"{upstream}.json"
    text = json.dumps(answers, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
    if os.environ.get("UPDATE_GOLDEN"):
        target.write_text(text, encoding="utf-8")
    assert target.exists(), f"no golden file {target}; run with UPDATE_GOLDEN=1"
    expected = json.loads(target.read_text(encoding="utf-8"))
    for path, answer in answers.items():
        assert answer == expected[path], path
    assert set(answers) == set(expected)
