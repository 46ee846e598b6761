"""One tiny finished run of the real Snakefile, shared by test_report.py and test_bundle.py.

A workflow run costs about a minute of job start-ups, so both modules read the same one (built
on first use, kept for the session). It is a user folder with an annotation that matches no
sheet, so the report's problem tile has something to list; unreadable scans would add a second
shard of jobs (a minute of start-ups), and test_workflow.py covers them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import write_mask_file, write_sheet
from tests.test_workflow import TINY, run_snakemake

_CACHE: dict[str, tuple[Path, dict]] = {}


def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """``(workdir, config)`` of the finished run; results are in ``workdir / "results"``."""
    if "run" not in _CACHE:
        work = tmp_path_factory.mktemp("report_run")
        sheets, masks = work / "sheets", work / "masks"
        for i in range(6):
            write_sheet(sheets / f"s{i}.jpg", 120, 180, dpi=300, seed=i)
            write_mask_file(masks / f"s{i}_mask.png", 120, 180)
        write_mask_file(masks / "orphan_mask.png", 60, 90)  # matches no sheet: a problem
        config = {
            **TINY,
            "sheets": "sheets",
            "annotations": "masks",
            "results": "results",
            "report": {"n_worst": 2, "n_random": 2, "long_side": 300},
            "bundle": {"authors": [{"name": "Ada Curator", "orcid": "0000-0002-1825-0097"}]},
        }
        run_snakemake(work, config)
        _CACHE["run"] = (work, config)
    return _CACHE["run"]
