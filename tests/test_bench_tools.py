"""The in-process micro-benchmarks still run every bench case through the real pipeline.

They assert nothing about speed (that is what they print); these tests only keep them
working as the gateway changes: each case answers 200 (pipeline_micro asserts it on
every round) and gets its line. `bench/run.py` needs nginx, wrk and Node and is run by
hand (bench/README.md).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
CASES = list(yaml.safe_load((ROOT / "bench" / "cases.yaml").read_text())["cases"])


def _run(*argv: str) -> list[str]:
    done = subprocess.run([sys.executable, *argv], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


@pytest.mark.parametrize("extra,what", [((), "a call"), (("--shell",), "the shell of")])
def test_pipeline_micro_runs_every_case(extra, what):
    lines = _run("bench/pipeline_micro.py", "--rounds", "1", "--calls", "2", *extra)
    assert [line.split(":")[0] for line in lines] == CASES
    assert all(f" µs {what} (" in line for line in lines), lines


def test_mapping_micro_maps_every_case():
    lines = _run("bench/mapping_micro.py", "--rounds", "1", "--loops", "2")
    assert {line.split(":")[0] for line in lines} == set(CASES)
