"""End-to-end: the real Snakefile in a subprocess on tiny collections.

The session's synthetic run (synth → … → demo_check, conftest.py's ``synth_run``) and a user
folder with broken files are checked file by file, column by column, and the rerun plans are
read from Snakemake's own dry run.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from herbseg.io.dwca import MULTIMEDIA_ROW_TYPE
from tests.helpers import check_measurements_match, planned_rules, read_dwc_archive

pytestmark = pytest.mark.workflow


def test_every_output_file_column_and_range(synth_run):
    work, _ = synth_run
    res = work / "demo" / "results"
    manifest = pd.read_csv(res / "ingest" / "manifest.csv")
    assert {"sheet_id", "path", "bytes", "width", "height", "mode", "dpi_x", "dpi_y", "has_mask",
            "status", "error"} <= set(manifest.columns)  # fmt: skip
    assert len(manifest) == 8 and (manifest["status"] == "ok").all()
    assert (manifest["dpi_x"] == 60).all() and manifest["has_mask"].all()

    split = pd.read_csv(res / "split" / "split.csv")
    assert sorted(split["split"].unique()) == ["test", "train", "val"] and len(split) == 8

    history = pd.read_csv(res / "train" / "history.csv")
    assert list(history.columns) == ["epoch", "train_loss", "val_loss", "val_iou", "seconds"]
    assert history["epoch"].tolist() == [1] and history["val_iou"].between(0, 1).all()
    assert (res / "train" / "model" / "config.json").exists()

    summary = pd.read_csv(res / "evaluate" / "summary.csv")
    assert list(summary.columns) == ["iou", "dice", "precision", "recall", "accuracy", "n_sheets"]
    assert summary["n_sheets"].iloc[0] == (split["split"] == "test").sum()
    assert summary[["iou", "dice", "precision", "recall", "accuracy"]].stack().between(0, 1).all()
    card = json.loads((res / "train" / "model_card.json").read_text())
    assert card["test_metrics"]["iou"] == pytest.approx(summary["iou"].iloc[0])
    assert len(card["split_sheet_ids_sha256"]) == 64 and card["versions"]["torch"]
    per_sheet = pd.read_csv(res / "evaluate" / "per_sheet.csv")
    assert len(per_sheet) == summary["n_sheets"].iloc[0]

    area = pd.read_csv(res / "leaf_area.csv")
    assert {"sheet_id", "status", "width", "height", "leaf_px", "leaf_fraction", "n_leaves",
            "px_per_mm", "scale_source", "leaf_area_mm2"} <= set(area.columns)  # fmt: skip
    assert len(area) == len(manifest) and (area["status"] == "ok").all()
    assert area["leaf_fraction"].between(0, 1).all()
    assert area["mask_doubt"].between(0, 1).all()  # every sheet's network doubt, written
    assert set(area["scale_source"]) <= {"ruler", "dpi"}
    assert area["px_per_mm"].between(60 / 25.4 * 0.9, 60 / 25.4 * 1.1).all()
    assert {"scale_kind", "scale_orientation", "scale_span_px", "scale_line",
            "scale_note"} <= set(area.columns)  # fmt: skip
    assert (res / "report" / "scale_evidence").is_dir()
    problems = pd.read_csv(res / "measure" / "scale_problems.csv")
    assert list(problems.columns) == ["kind", "sheet_id", "path", "status", "error"]
    ok = area["leaf_px"] > 0
    expected_mm2 = area.loc[ok, "leaf_px"] / area.loc[ok, "px_per_mm"] ** 2
    assert np.allclose(area.loc[ok, "leaf_area_mm2"], expected_mm2, rtol=0.02)

    for row in area.itertuples():  # masks are in each sheet's own geometry
        with Image.open(work / row.predicted_mask) as im:
            assert im.size == (row.width, row.height)
    traits = pd.read_csv(res / "leaf_traits.csv")
    assert {"sheet_id", "leaf_id", "area_px", "area_mm2", "length_mm", "width_mm",
            "intact"} <= set(traits.columns)  # fmt: skip
    check = pd.read_csv(res / "demo_check.csv")
    assert {"test_iou", "leaf_area_median_rel_error"} <= set(check["metric"])
    assert (res / "logs" / "train.log").stat().st_size > 0
    assert list((res / "benchmarks").rglob("*.tsv"))
    # the CPU default runtime ran predict (TINY's other runs use torch): one shard converted
    # the model, or both did, as they ran side by side
    predict_logs = [p.read_text() for p in sorted((res / "logs" / "predict").glob("*.log"))]
    assert len(predict_logs) == 2 and all("runtime openvino" in t for t in predict_logs)


def test_the_demo_archive_comes_back_as_measurements_of_its_occurrences(synth_run):
    """The demo path reads its sheets from the generated GBIF-style archive (demo/dwca); the
    MeasurementOrFact archive it writes reads back with python-dwca-reader, its occurrences are
    the input's (catalogue numbers with their leading zeros) and its values are leaf_area.csv's,
    the specimen imaged on two sheets summed."""
    work, _ = synth_run
    demo = work / "demo"
    area = pd.read_csv(demo / "results/leaf_area.csv", dtype=str, keep_default_na=False)
    assert list(area["sheet_id"]) == [f"synth_{i:04d}" for i in range(8)]  # ids from `title`
    assert area["catalogNumber"].str.fullmatch(r"HSD\d{6}").all()
    core, facts = read_dwc_archive(demo / "results/dwc")
    source, media = read_dwc_archive(demo / "dwca", MULTIMEDIA_ROW_TYPE)
    assert len(media) == 8 and set(media["coreid"]) == set(source["id"])
    assert set(core["id"]) <= set(source["id"])
    joined = core.merge(source, on="id", suffixes=("", "_in"))
    assert (joined["catalogNumber"] == joined["catalogNumber_in"]).all()
    check_measurements_match(facts, area, "gbifID")
    twice = area.groupby("gbifID")["sheet_id"].count()
    assert (twice == 2).sum() == 1  # the 8th sheet shows the 7th's specimen
    specimens = pd.read_csv(demo / "results/specimens.csv", dtype=str).set_index("specimen")
    assert len(specimens) == 7 and sorted(specimens["n_sheets"].unique()) == ["1", "2"]


def test_forcerun_measure_reruns_only_measure_and_what_follows(synth_run):
    work, config = synth_run
    jobs = planned_rules(work, config, "--forcerun", "measure")
    # the collection plot, the overlays and the run bundle summarise the measurements
    assert set(jobs) == {"measure", "aggregate", "demo_check", "plot_collection", "overlays",
                         "scale_evidence", "leaf_gallery", "bundle", "dwc_export",
                         "all"}  # fmt: skip
    assert jobs["measure"] == 2  # one job per shard


def test_until_train_stops_at_train(synth_run):
    work, config = synth_run
    jobs = planned_rules(work, config, "--forcerun", "resize", "--until", "train")
    assert set(jobs) == {"resize", "split", "train"}


def test_changed_measure_setting_reruns_measure_not_training(synth_run):
    work, config = synth_run
    changed = {**config, "measure": {"min_leaf_px": 25}}
    jobs = planned_rules(work, changed)
    assert "train" not in jobs and "predict" not in jobs
    assert {"measure", "aggregate"} <= set(jobs)


def test_forcing_one_shards_table_reruns_only_that_job(synth_run):
    work, config = synth_run
    target = f"{config['results']}/measure/a00000/leaf_area.csv"
    assert planned_rules(work, config, "--force", target) == {"measure": 1}


def test_nothing_to_do_after_a_complete_run(synth_run):
    work, config = synth_run
    assert planned_rules(work, config) == {}


def test_corrupt_and_truncated_sheets_are_reported_and_the_run_completes(tiny_run):
    work, _ = tiny_run  # a user folder with a corrupt and a truncated scan among 6 good ones
    res = work / "results"
    manifest = pd.read_csv(res / "ingest" / "manifest.csv", keep_default_na=False)
    area = pd.read_csv(res / "leaf_area.csv", keep_default_na=False)
    assert len(area) == len(manifest) == 8
    bad = area.set_index("sheet_id").loc[["corrupt", "truncated"]]
    assert (bad["status"] == "error").all()
    assert bad.loc["truncated", "error"] == "truncated"
    assert (bad["leaf_area_mm2"] == "").all()
    problems = pd.read_csv(res / "ingest" / "problems.csv")
    assert {"corrupt", "truncated"} <= set(problems["sheet_id"])
    good = [f"s{i}" for i in range(6)]  # s0 and s1 with masks of another size, mapped
    assert (area.set_index("sheet_id").loc[good, "status"] == "ok").all()
