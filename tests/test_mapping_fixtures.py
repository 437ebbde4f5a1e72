"""Every case of every mapping fixture file (`mappings/fixtures/*.yaml`), collected from
the data: a new mapping file plus its fixtures joins this run with no Python edit."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.tools.fixtures import cases_of, discover, load_fixture_file, run_file
from tests.conftest import ROOT

FILES = discover([ROOT / "mappings"])
CASES = list(cases_of(FILES))
MAPPINGS = sorted((ROOT / "mappings").glob("*.yaml"))


@pytest.mark.parametrize("path,name", CASES, ids=[f"{p.stem}: {n}" for p, n in CASES])
async def test_fixture_case(path: Path, name: str) -> None:
    [result] = await run_file(load_fixture_file(path), only=name)
    assert result.ok, "\n" + result.diff()


@pytest.mark.parametrize("mapping", MAPPINGS, ids=[m.stem for m in MAPPINGS])
def test_every_mapping_has_fixtures(mapping: Path) -> None:
    tested = {load_fixture_file(f).mapping: len(load_fixture_file(f).cases) for f in FILES}
    assert tested.get(mapping.resolve(), 0) >= 3, \
        f"write at least 3 cases for {mapping.name} in mappings/fixtures/{mapping.stem}.yaml"
