"""The README's environment table names every variable the shipped config reads."""

from __future__ import annotations

import re

from tests.conftest import ROOT, ROUTES


def test_every_variable_of_the_shipped_routes_yaml_is_in_the_readme_table():
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("### Environment read by the shipped"):]
    table = table[:table.index("\n## ")]
    documented = set(re.findall(r"`([A-Z][A-Z0-9_]*)`", table))
    config = "\n".join(line.split("#")[0] for line in ROUTES.read_text().splitlines())
    used = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", config))  # comments left out
    used = {name for name in used if not name.endswith("_BASE_URL")}  # `<NAME>_BASE_URL`
    assert "<NAME>_BASE_URL" in table
    assert used - documented == set(), "add these to README's environment table"
