"""One golden test per mapping file: fixed canonical calls against freshly seeded
emulators, compared with `tests/golden/<upstream>.json` byte for byte (as JSON).

The golden files are the data: their keys are the calls made. A deliberate mapping change
shows up here as a readable diff; to accept it, run `UPDATE_GOLDEN=1 pytest
tests/test_golden.py` and review the golden files' diff. To cover a new upstream, write
`tests/golden/<upstream>.json` as `{"/chats": null, "/chats/1/messages": null}` and run
the same command.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from gateway.emulators import EMULATORS
from tests.conftest import AUTH, ROUTES

GOLDEN = Path(__file__).parent / "golden"
UPSTREAMS = sorted(p.stem for p in GOLDEN.glob("*.json"))


def test_every_emulated_route_has_golden_calls():
    routed = set((yaml.safe_load(ROUTES.read_text()) or {}).get("upstreams", {}))
    assert routed & set(EMULATORS) <= set(UPSTREAMS)


@pytest.mark.parametrize("upstream", UPSTREAMS)
async def test_golden(gateway, upstream):
    target = GOLDEN / f"{upstream}.json"
    expected = json.loads(target.read_text(encoding="utf-8"))
    answers = {}
    for path in expected:
        response = await gateway.get(f"/v1/{upstream}{path}", headers={**AUTH, "X-Request-ID": "golden"})
        answers[path] = {"status": response.status, "body": await response.json()}
    text = json.dumps(answers, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
    if os.environ.get("UPDATE_GOLDEN"):
        target.write_text(text, encoding="utf-8")
        expected = answers
    for path, answer in answers.items():
        assert answer == expected[path], path
