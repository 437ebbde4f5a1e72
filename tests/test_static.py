"""`ruff check` and `mypy --strict` over the tree, as .ci/run runs them (configured in
pyproject.toml), so a lint or type error shows in the test run before it reaches main."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

BIN = Path(sys.executable).parent


@pytest.mark.parametrize("command", [["ruff", "check"], ["mypy"]], ids=["ruff", "mypy"])
def test_static_checks_pass(command):
    result = subprocess.run([str(BIN / command[0]), *command[1:]], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
