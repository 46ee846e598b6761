"""A trained model as an artefact: one run exports it, a second run on other sheets uses it.

The second run names the first run's ``results/model`` in ``model.path`` with no annotations: it
must skip split, train and evaluate, measure every sheet, and say in ``leaf_area.csv`` and in the
bundle which model (by sha256) did it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from herbseg.model.card import read_model_folder, weights_sha256
from tests.helpers import SHARED, TINY, planned_rules, run_snakemake, write_sheet

pytestmark = pytest.mark.workflow


LM2_SHEETS = ("LM_Validate_LowRes_1.jpg", "LM_Validate_LowRes_2.jpg")


@pytest.fixture(scope="module")
def two_runs(tiny_run, tmp_path_factory):
    """The session's tiny run (the first) and the config of a second, predict-only run with its
    model on other sheets: five small generated ones and, where ``../shared`` is present, two
    real LeafMachine2 sheets (rulers, no masks), listed in one CSV so one run does both."""
    first, _ = tiny_run
    model = first / "results" / "model"
    work = tmp_path_factory.mktemp("model_path_run")
    paths = [write_sheet(work / "other" / f"o{i}.jpg", 150, 200, dpi=300, seed=10 + i)
             for i in range(5)]  # fmt: skip
    lm2 = SHARED / "data" / "leafmachine2_demo"
    if lm2.is_dir():
        paths += [lm2 / name for name in LM2_SHEETS]
    pd.DataFrame({"sheet_id": [p.stem for p in paths], "path": [str(p) for p in paths]}).to_csv(
        work / "sheets.csv", index=False
    )
    config = {
        **TINY,
        "sheets": "sheets.csv",
        "annotations": None,
        "results": "results",
        "model": {"path": str(model)},
        "resize": {},  # frame size from the model's card, not from TINY
        "report": {"n_random": 8, "long_side": 300},  # an overlay of every sheet
    }
    return model, work, config


@pytest.fixture(scope="module")
def second_run(two_runs) -> pd.DataFrame:
    """The second run, finished: its ``leaf_area.csv`` by sheet id."""
    _, work, config = two_runs
    run_snakemake(work, config)
    return pd.read_csv(
        work / "results" / "leaf_area.csv", dtype=str, keep_default_na=False
    ).set_index("sheet_id")


def test_first_run_exports_a_complete_model(two_runs):
    model, _, _ = two_runs
    card = read_model_folder(model)
    assert card["frame_size"] == TINY["resize"]["size"] and card["resize_mode"] == "squash"
    assert card["encoder"] == "resnet18" and card["mask_class"] == "leaf"
    assert set(card["normalisation"]) == {"mean", "std"} and "iou" in card["test_metrics"]
    assert len(card["training_data_sha256"]) == 64
    assert card["weights_sha256"] == weights_sha256(model)


def test_second_run_plans_no_training(two_runs):
    _, work, config = two_runs
    jobs = planned_rules(work, config)
    assert (
        "ingest" in jobs and "aggregate" in jobs
    )  # predict and measure follow ingest's checkpoint
    assert not {"split", "train", "evaluate", "baseline", "export_model"} & set(jobs)


def test_second_run_measures_every_sheet_with_the_named_model(two_runs, second_run):
    model, work, _ = two_runs
    res = work / "results"
    table = second_run.loc[[f"o{i}" for i in range(5)]]
    assert (table["status"] == "ok").all()
    assert (second_run["model_sha256"] == weights_sha256(model)).all()
    assert not (res / "train").exists() and not (res / "split").exists()
    run = json.loads((res / "bundle" / "run.json").read_text())
    assert run["model"]["weights_sha256"] == weights_sha256(model)
    assert list((res / "report" / "overlays").rglob("*.jpg"))


def test_a_contradicting_frame_size_is_refused_before_anything_runs(two_runs, tmp_path):
    _, work, config = two_runs
    bad = {**config, "resize": {"size": 96}, "results": str(tmp_path / "r")}
    proc = run_snakemake(work, bad, "-n", check=False)
    assert proc.returncode != 0
    text = proc.stderr + proc.stdout
    assert "resize.size" in text and "96" in text and str(TINY["resize"]["size"]) in text
    assert not (tmp_path / "r").exists()


def test_a_second_real_collection_gets_ruler_scales_and_overlays(two_runs, second_run, shared_data):
    """Predict-only on LeafMachine2 sheets (no masks): ruler scales and an overlay per sheet.

    The tiny model's masks mean nothing; what is checked is that a model from one collection
    runs end to end on another, with the other's own scales (benchmarks/second_collection.py
    does this with the demo's model on all 12 sheets).
    """
    _, work, _ = two_runs
    if not (shared_data / "leafmachine2_demo").is_dir():
        pytest.skip("leafmachine2_demo is not present")
    ids = [Path(name).stem for name in LM2_SHEETS]
    table = second_run.loc[ids]
    assert (table["status"] == "ok").all()
    assert (table["scale_source"] == "ruler").all(), table[["scale_source"]]
    assert (table["px_per_mm"].astype(float) > 0).all()
    overlays = {p.stem for p in (work / "results" / "report" / "overlays").rglob("*.jpg")}
    assert all(any(i in stem for stem in overlays) for i in ids), sorted(overlays)
