"""The run bundle, read back the way a reader of a deposit would: with the ``rocrate`` package.

It must declare the Workflow Run Crate profiles, describe the run as one ``CreateAction`` of the
workflow, list files that are present with the size and sha256 it states, and reference the
predicted masks by checksum instead of copying them.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml
from rocrate.rocrate import ROCrate

from herbseg.io.files import sha256_file
from herbseg.reporting.bundle import build_bundle, main, verify_bundle
from herbseg.reporting.crate import PROFILES

pytestmark = pytest.mark.workflow  # reads the session's tiny run


@pytest.fixture(scope="module")
def bundle(tiny_run) -> tuple[Path, Path, dict]:
    work, config = tiny_run
    return work / "results", work / "results" / "bundle", config


def ids(value) -> set[str]:
    values = value if isinstance(value, list) else [value]
    return {v.id if hasattr(v, "id") else v["@id"] for v in values}


def test_crate_declares_the_workflow_run_crate_profiles(bundle):
    _, path, _ = bundle
    crate = ROCrate(path)
    assert ids(crate.root_dataset["conformsTo"]) == {pid for pid, _, _ in PROFILES}
    descriptor = json.loads((path / "ro-crate-metadata.json").read_text())["@graph"]
    meta = next(e for e in descriptor if e["@id"] == "ro-crate-metadata.json")
    assert ids(meta["conformsTo"]) == {
        "https://w3id.org/ro/crate/1.1",
        "https://w3id.org/workflowhub/workflow-ro-crate/1.0",
    }
    workflow = crate.mainEntity
    assert workflow.id == "source/Snakefile"
    assert {"File", "SoftwareSourceCode", "ComputationalWorkflow"} <= set(workflow.type)
    assert workflow["programmingLanguage"].id.endswith("#snakemake")
    assert crate.root_dataset["license"].id == "https://spdx.org/licenses/CC-BY-4.0"
    assert (path / "ro-crate-preview.html").is_file()
    # the whole library, every layer, so the bundle stands alone
    library = {p.relative_to(path / "source").as_posix() for p in (path / "source").rglob("*.py")}
    assert {"src/herbseg/stages/measure.py", "src/herbseg/io/files.py"} <= library


def test_one_create_action_runs_the_workflow_on_inputs_to_results(bundle):
    _, path, _ = bundle
    crate = ROCrate(path)
    actions = crate.get_by_type("CreateAction")
    assert len(actions) == 1
    action = actions[0]
    assert action["instrument"] is crate.mainEntity
    assert ids(crate.root_dataset["mentions"]) == {action.id}
    assert {"config.yaml", "#input-sheets", "#input-annotations"} <= ids(action["object"])
    expected = {
        "results/ingest/manifest.csv",
        "results/ingest/problems.csv",
        "results/split/split.csv",
        "results/train/model/",
        "results/train/history.csv",
        "results/train/model_card.json",
        "results/evaluate/per_sheet.csv",
        "results/evaluate/summary.csv",
        "results/leaf_area.csv",
        "results/leaf_traits.csv",
        "results/specimens.csv",
        "results/dwc/meta.xml",
        "results/dwc/occurrence.txt",
        "results/dwc/measurementorfact.txt",
        "results/masks.csv",
        "results/report/overlays/",
        "#predicted-masks",
    }
    assert expected <= ids(action["result"])
    assert action["endTime"] and action["startTime"] <= action["endTime"]
    assert action["agent"].id == "https://orcid.org/0000-0002-1825-0097"
    model = crate.get("results/train/model/")
    assert "results/train/model/model_card.json" in ids(model["hasPart"])


def test_every_listed_file_exists_with_its_size_and_sha256(bundle):
    _, path, _ = bundle
    crate = ROCrate(path)
    files = [e for e in crate.get_by_type("File") if not e.id.startswith(("#", "http"))]
    files = [e for e in files if e.id != "ro-crate-metadata.json"]
    assert len(files) > 30  # results, figures, configs, the workflow source
    for entity in files:
        target = path / entity.id
        assert target.is_file(), entity.id
        assert int(entity["contentSize"]) == target.stat().st_size, entity.id
        assert entity["sha256"] == sha256_file(target), entity.id
    assert verify_bundle(path) == []
    assert main([str(path)]) == 0


def test_resolved_config_command_and_versions_are_recorded(bundle):
    _, path, config = bundle
    resolved = yaml.safe_load((path / "config.yaml").read_text())
    assert resolved["resize"]["size"] == config["resize"]["size"]
    assert resolved["split"]["train"] == 0.7  # a schema default, filled in
    run = json.loads((path / "run.json").read_text())
    assert "--configfile config.yaml" in run["command"]
    assert run["command"].startswith("snakemake ")
    assert run["workflow_version"]
    software = json.loads((path / "software.json").read_text())
    for package in ("herbseg", "snakemake", "torch", "segmentation-models-pytorch", "rocrate"):
        assert software["key_packages"][package], package
    assert (path / "source" / "workflow" / "rules" / "bundle.smk").is_file()
    card = json.loads((path / "results" / "train" / "model_card.json").read_text())
    assert "iou" in card["test_metrics"]


def test_masks_are_referenced_with_checksums_not_copied(bundle):
    results, path, _ = bundle
    assert not (path / "results" / "predict").exists()
    assert all(p.relative_to(path).parts[:2] == ("results", "report") for p in path.rglob("*.png"))
    masks = pd.read_csv(path / "results" / "masks.csv", dtype=str)
    area = pd.read_csv(results / "leaf_area.csv", dtype=str, keep_default_na=False)
    assert len(masks) == (area["status"] == "ok").sum() == 6
    for row in masks.itertuples():
        assert sha256_file(results / row.path) == row.sha256
    assert verify_bundle(path, results) == []


def test_a_changed_file_or_mask_is_caught(bundle, tmp_path):
    results, path, _ = bundle
    copy = tmp_path / "bundle"
    shutil.copytree(path, copy)
    with open(copy / "results" / "leaf_area.csv", "a") as fh:
        fh.write("tampered\n")
    problems = verify_bundle(copy)
    assert any("results/leaf_area.csv" in p for p in problems)
    moved = tmp_path / "results"
    shutil.copytree(results / "predict", moved / "predict")
    mask = next((moved / "predict").rglob("*.png"))
    mask.write_bytes(mask.read_bytes() + b"\0")
    assert any("mask" in p for p in verify_bundle(path, moved))


def test_masks_are_copied_when_configured(bundle, tmp_path):
    results, path, config = bundle
    out = build_bundle(
        tmp_path / "bundle",
        results_dir=results,
        results=[results / "leaf_area.csv", results / "train" / "model"],
        mask_tables=sorted((results / "checksums" / "masks").glob("*.csv")),
        config=yaml.safe_load((path / "config.yaml").read_text()),
        configfiles=[],
        source_root=Path(__file__).resolve().parents[1],
        copy_masks=True,
        log=lambda _: None,
    )
    copied = sorted((out / "results" / "predict").rglob("*.png"))
    assert len(copied) == 6
    assert verify_bundle(out) == []
    masks = ROCrate(out).get("#predicted-masks")
    assert ids(masks["hasPart"]) == {"results/predict/a00000/masks/"}
