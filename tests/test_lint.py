"""The code and the workflow stay clean: ruff, snakefmt and Snakemake's own linter."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO

BIN = Path(sys.executable).parent


@pytest.mark.parametrize(
    "cmd",
    [
        [str(BIN / "ruff"), "check", "."],
        [str(BIN / "ruff"), "format", "--check", "."],
        [str(BIN / "snakefmt"), "--check", "Snakefile", "workflow/rules"],
        pytest.param(
            [sys.executable, "-m", "snakemake", "--lint", "--configfile", "config/demo.yaml"],
            marks=pytest.mark.workflow,
        ),
    ],
    ids=["ruff-check", "ruff-format", "snakefmt", "snakemake-lint"],
)
def test_clean(cmd):
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    if "--lint" in cmd:
        assert "Congratulations" in proc.stdout + proc.stderr
