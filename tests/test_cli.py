"""The `herbseg` command: predict gives the workflow's leaf area, check and verify say what is
wrong in one line."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.helpers import REPO


def herbseg(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "PYTHONWARNINGS": "ignore"}
    return subprocess.run([sys.executable, "-m", "herbseg.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True)  # fmt: skip


@pytest.fixture(scope="module")
def run(tiny_run):
    return tiny_run


@pytest.mark.workflow
def test_predict_gives_the_workflows_leaf_area(run, tmp_path):
    work, config = run
    (work / "cli.yaml").write_text(yaml.safe_dump(config))
    proc = herbseg("predict", "sheets/s2.jpg", "sheets/s4.jpg", "--model", "results/train/model",
                   "--config", "cli.yaml", "--out", str(tmp_path), cwd=work)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    mine = pd.read_csv(tmp_path / "leaf_area.csv").set_index("sheet_id")
    flow = pd.read_csv(work / "results/leaf_area.csv").set_index("sheet_id")
    for sid in ("s2", "s4"):
        assert mine.loc[sid, "status"] == "ok"
        assert mine.loc[sid, "leaf_area_mm2"] == pytest.approx(flow.loc[sid, "leaf_area_mm2"])
        assert mine.loc[sid, "n_leaves"] == flow.loc[sid, "n_leaves"]
        assert (tmp_path / "masks" / f"{sid}.png").is_file()
        assert (tmp_path / "overlays" / f"{sid}.jpg").stat().st_size > 1000
    traits = pd.read_csv(tmp_path / "leaf_traits.csv")
    assert set(traits["sheet_id"]) <= {"s2", "s4"} and {"length_px", "length_mm"} <= set(traits)
    assert "s2\t" in proc.stdout
    assert "greyscale" not in proc.stderr


@pytest.mark.workflow
def test_predict_reports_an_unreadable_sheet_and_goes_on(run, tmp_path):
    """An empty file among the sheets: its row says why, in the table and on the terminal (no
    leaf count, as no mask was made), the good sheet is measured, and the exit status says not
    every sheet was."""
    work, config = run
    (work / "cli.yaml").write_text(yaml.safe_dump(config))
    shutil.copy(work / "sheets/s2.jpg", tmp_path / "s2.jpg")  # one folder: ids are file stems
    empty = tmp_path / "blank.jpg"
    empty.write_bytes(b"")
    proc = herbseg("predict", str(tmp_path / "s2.jpg"), str(empty), "--model",
                   "results/train/model", "--config", "cli.yaml", "--out", str(tmp_path / "out"),
                   cwd=work)  # fmt: skip
    assert proc.returncode == 1, proc.stderr[-3000:]
    rows = pd.read_csv(tmp_path / "out" / "leaf_area.csv").set_index("sheet_id")
    assert rows.loc["s2", "status"] == "ok" and rows.loc["blank", "status"] == "error"
    line = next(x for x in proc.stdout.splitlines() if x.startswith("blank\t"))
    assert line == f"blank\terror: {rows.loc['blank', 'error']}" and "leaves" not in line
    assert any(x.startswith("s2\t") and x.endswith(" leaves") for x in proc.stdout.splitlines())


@pytest.mark.workflow
def test_predict_warns_that_grey_sheets_meet_a_colour_only_model(run, tmp_path):
    """A sheet scanned in grey levels, given to the run's model (trained on colour frames only):
    the masks are still made, and the user is told once, on stderr, what that costs."""
    from PIL import Image

    work, config = run
    (work / "cli.yaml").write_text(yaml.safe_dump(config))
    grey = tmp_path / "s2_grey.jpg"
    Image.open(work / "sheets/s2.jpg").convert("L").convert("RGB").save(grey, quality=90)
    proc = herbseg("predict", str(grey), "--model", "results/train/model", "--config", "cli.yaml",
                   "--out", str(tmp_path / "out"), cwd=work)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "warning: 1 of 1 sheets are greyscale" in proc.stderr
    assert "train.augment.grey: 0.2" in proc.stderr
    assert (tmp_path / "out" / "masks" / "s2_grey.png").is_file()


@pytest.mark.workflow
def test_predict_on_a_demo_sheet_gives_the_workflows_leaf_area(synth_run, tmp_path):
    """A sheet of the demo's kind (ruler scale, the CPU default runtime), given by its image file
    while the workflow read it through the demo's Darwin Core Archive."""
    work, config = synth_run
    (work / "cli.yaml").write_text(yaml.safe_dump(config))
    proc = herbseg("predict", "demo/sheets/synth_0001.jpg", "--model", "demo/results/train/model",
                   "--config", "cli.yaml", "--out", str(tmp_path), cwd=work)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    mine = pd.read_csv(tmp_path / "leaf_area.csv").set_index("sheet_id").loc["synth_0001"]
    flow = pd.read_csv(work / "demo/results/leaf_area.csv").set_index("sheet_id").loc["synth_0001"]
    assert mine["scale_source"] == flow["scale_source"] == "ruler"
    assert mine["px_per_mm"] == pytest.approx(flow["px_per_mm"])
    assert mine["leaf_area_mm2"] == pytest.approx(flow["leaf_area_mm2"])
    assert mine["n_leaves"] == flow["n_leaves"] and mine["leaf_px"] == flow["leaf_px"]


def test_predict_without_a_model_folder_says_so(tmp_path):
    proc = herbseg("predict", str(REPO / "README.md"), "--model", str(tmp_path), cwd=tmp_path)
    assert proc.returncode == 2 and "not a saved model folder" in proc.stderr


@pytest.mark.workflow
def test_check_prints_the_plan_and_stops_on_a_mistake(run):
    work, config = run
    (work / "cli.yaml").write_text(yaml.safe_dump(config))
    proc = herbseg("check", "--config", "cli.yaml", cwd=work)
    assert proc.returncode == 0, proc.stderr
    assert "sheets: 8 listed in sheets" in proc.stdout  # 6 good, a corrupt and a truncated
    assert "annotations: 6 of 7 in masks match a sheet" in proc.stdout
    bad = herbseg("check", "--config", "cli.yaml", "--annotations", "nowhere", cwd=work)
    assert bad.returncode == 1 and bad.stderr.startswith("herbseg: config key 'annotations'")
    # no annotations and no saved model: nothing could make the masks (issue 13's start check)
    null = herbseg("check", "--config", "cli.yaml", "--annotations", "null", cwd=work)
    assert null.returncode == 1 and "model.path" in null.stderr


@pytest.mark.workflow
def test_verify_a_bundle_and_a_damaged_copy(run, tmp_path):
    work, _ = run
    proc = herbseg("verify", "results/bundle", cwd=work)
    assert proc.returncode == 0 and proc.stdout.strip().endswith("intact"), proc.stdout
    copy = tmp_path / "bundle"
    shutil.copytree(work / "results/bundle", copy)
    target = next(p for p in sorted(copy.rglob("*.csv")))
    target.write_text(target.read_text() + "tampered\n")
    bad = herbseg("verify", str(copy), cwd=work)
    assert bad.returncode == 1 and "sha256" in bad.stdout
