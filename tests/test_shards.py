"""Sharding end to end: a change to a finished run reruns only the shards it touches.

One tiny collection is run to completion once (module fixture); each test works on its own copy
of that finished run (sheets, results and Snakemake's ``.snakemake`` records, mtimes kept) and
reads what Snakemake would do next from its own dry run.

The collection: 10 sheets, 4 of them annotated, ``shard_size`` 4, so the shards are ``a00000``
(s0-s3, the training material), ``c00000`` (s4-s7) and ``c00001`` (s8, s9, two places free).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from tests.helpers import REPO, SNAKEMAKE, TINY, run_snakemake, write_mask_file, write_sheet

SHARDED = {
    **TINY,
    "sheets": "sheets",
    "annotations": "masks",
    "results": "results",
    "ingest": {"shard_size": 4},
}
PER_SHARD = ("resize", "predict", "measure")
TRAINING = ("ingest", "split", "train", "evaluate")
# The finished run and every plan stop at the collection tables: reports and bundles built after
# them are other tests' business and would only slow this module down.
TARGETS = ("results/leaf_area.csv", "results/leaf_traits.csv")


def planned_jobs(workdir: Path, config: dict, *args: str) -> dict[str, list[str]]:
    """Jobs of a dry run by rule, each as its shard (or "" for a job without one).

    Parsed from the dry run's job blocks (``rule x:`` … ``wildcards: shard=…``) so a test can
    say *which* shards rerun, not only how many jobs.
    """
    proc = run_snakemake(workdir, config, "-n", *args)
    jobs: dict[str, list[str]] = {}
    for block in re.split(r"\n(?=(?:local)?rule \w+:)", proc.stdout + proc.stderr)[1:]:
        rule = re.match(r"(?:local)?rule (\w+):", block).group(1)
        shard = re.search(r"wildcards: shard=(\w+)", block.split("\n\n")[0])
        jobs.setdefault(rule, []).append(shard.group(1) if shard else "")
    return {rule: sorted(shards) for rule, shards in jobs.items()}


def assert_redoes_only(jobs: dict[str, list[str]], shards: list[str], rules=PER_SHARD) -> None:
    """The plan redoes ``rules`` for exactly ``shards``, no other shard's job of any rule, the
    aggregation, and nothing of training."""
    for rule in rules:
        assert jobs.get(rule) == sorted(shards), (rule, jobs)
    touched = {s for planned in jobs.values() for s in planned if s}
    assert touched == set(shards), jobs
    assert "aggregate" in jobs and not set(TRAINING) & set(jobs), jobs


def ingest_now(workdir: Path, config: dict) -> None:
    """Run the ingest checkpoint alone: the plan after a checkpoint is only known once it ran."""
    run_snakemake(workdir, config, "results/ingest/manifest.csv")


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("finished")
    for i in range(10):
        write_sheet(work / "sheets" / f"s{i}.jpg", 120, 180, dpi=300, seed=i)
    for i in range(4):
        write_mask_file(work / "masks" / f"s{i}_mask.png", 60, 90)
    run_snakemake(work, SHARDED, *TARGETS)
    shards = pd.read_csv(work / "results" / "ingest" / "shards.csv")
    assert dict(zip(shards["shard"], shards["n_sheets"])) == {"a00000": 4, "c00000": 4, "c00001": 2}
    assert planned_jobs(work, SHARDED, *TARGETS) == {}
    return work


@pytest.fixture
def run_copy(finished_run, tmp_path) -> Path:
    """A private copy of the finished run; copytree keeps every mtime (folders included)."""
    work = tmp_path / "run"
    shutil.copytree(finished_run, work, symlinks=True)
    return work


def _shard_mtimes(work: Path) -> dict[str, int]:
    return {p.stem: p.stat().st_mtime_ns for p in (work / "results/ingest/shards").glob("*.csv")}


@pytest.mark.workflow
def test_added_sheets_rerun_only_the_shards_that_hold_them(run_copy):
    before = _shard_mtimes(run_copy)
    time.sleep(0.01)
    write_sheet(run_copy / "sheets" / "a_new.jpg", 120, 180, seed=20)  # sorts before s0
    write_sheet(run_copy / "sheets" / "y_new.jpg", 120, 180, seed=21)
    write_sheet(run_copy / "sheets" / "z_new.jpg", 120, 180, seed=22)
    ingest_now(run_copy, SHARDED)
    shard_of = pd.read_csv(run_copy / "results/ingest/manifest.csv").set_index("sheet_id")["shard"]
    new = ["a_new", "y_new", "z_new"]
    assert shard_of[new].tolist() == ["c00001", "c00001", "c00002"]  # fills, then opens
    after = _shard_mtimes(run_copy)
    assert {s for s in after if after[s] != before.get(s)} == {"c00001", "c00002"}
    assert_redoes_only(planned_jobs(run_copy, SHARDED, *TARGETS), ["c00001", "c00002"])


@pytest.mark.workflow
def test_a_removed_sheet_reruns_only_its_shard(run_copy):
    os.remove(run_copy / "sheets" / "s5.jpg")
    ingest_now(run_copy, SHARDED)
    assert_redoes_only(planned_jobs(run_copy, SHARDED, *TARGETS), ["c00000"])


@pytest.mark.workflow
def test_a_shard_with_missing_outputs_is_redone_and_no_other(run_copy):
    """A first run stopped while c00001 was being predicted: the job's table and everything after
    it are missing, its masks folder half-written."""
    os.remove(run_copy / "results/predict/c00001/predict.csv")
    shutil.rmtree(run_copy / "results/measure/c00001")
    for f in (run_copy / "results").glob("leaf_*.csv"):
        f.unlink()
    jobs = planned_jobs(run_copy, SHARDED, *TARGETS)
    assert_redoes_only(jobs, ["c00001"], rules=("predict", "measure"))
    assert "resize" not in jobs


def _incomplete_markers(work: Path) -> list[Path]:
    root = work / ".snakemake" / "incomplete"
    return [p for p in root.rglob("*") if p.is_file()] if root.is_dir() else []


@pytest.mark.workflow
def test_a_shard_killed_mid_job_is_redone_and_no_other(run_copy):
    """Kill Snakemake and its job (SIGKILL: a node lost, a job past its time limit) while one
    shard's measure runs; its output is left half-written but present, so only Snakemake's
    incomplete marker says it must be redone."""
    target = run_copy / "results/measure/c00000/leaf_area.csv"
    old_text = target.read_text()
    cfg = run_copy / "config.yaml"
    # the target goes before --forcerun, which would take it for one more rule name
    cmd = [*SNAKEMAKE, "--snakefile", str(REPO / "Snakefile"), "--directory", str(run_copy),
           "--configfile", str(cfg), "--cores", "1", "results/measure/c00000/leaf_area.csv",
           "--forcerun", "measure"]  # fmt: skip
    proc = subprocess.Popen(
        cmd,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not _incomplete_markers(run_copy) and proc.poll() is None:
            assert time.monotonic() < deadline, "the measure job never started"
            time.sleep(0.02)
        assert proc.poll() is None, "the job finished before it could be interrupted"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert _incomplete_markers(run_copy)
    target.write_text(old_text[: len(old_text) // 2])  # what a kill mid-write leaves
    run_snakemake(run_copy, SHARDED, "--unlock")  # a killed Snakemake leaves its lock behind
    jobs = planned_jobs(run_copy, SHARDED, "--rerun-incomplete", *TARGETS)
    assert_redoes_only(jobs, ["c00000"], rules=("measure",))
    assert "resize" not in jobs and "predict" not in jobs


def test_predict_shard_streams_in_order_and_keeps_a_bad_frame_as_a_row(tmp_path):
    """Batches smaller than the shard, a frame that cannot be decoded in the middle: every ok row
    comes back once, in the table's order, the bad one with its reason, masks in sheet size."""
    from herbseg.io.geometry import plan
    from herbseg.io.images import write_rgb
    from herbseg.model.network import build_model
    from herbseg.stages.predict import PREDICT_COLUMNS, predict_shard

    rows = []
    for i in range(7):
        frame = tmp_path / "frames" / f"f{i}.png"
        if i == 3:
            frame.parent.mkdir(parents=True, exist_ok=True)
            frame.write_bytes(b"\x89PNG\r\n\x1a\n not really")
        else:
            rgb = np.random.default_rng(i).integers(0, 255, (64, 64, 3), dtype=np.uint8)
            write_rgb(frame, rgb)
        geom = plan(60 + i, 90, 64, "letterbox" if i % 2 else "squash")
        rows.append({"sheet_id": f"s{i}", "status": "ok", "error": "", "frame_path": str(frame),
                     **geom.as_row()})  # fmt: skip
    rows.append({"sheet_id": "gone", "status": "error", "error": "truncated", "frame_path": ""})
    model = build_model("resnet18", None)
    table = predict_shard(
        model, pd.DataFrame(rows), tmp_path / "masks", device=torch.device("cpu"),
        batch_size=2, threads=2, log=lambda m: None,
    )  # fmt: skip
    assert list(table.columns) == PREDICT_COLUMNS
    assert table["sheet_id"].tolist() == [f"s{i}" for i in range(7)]
    bad = table.set_index("sheet_id").loc["s3"]
    assert bad["status"] == "error" and bad["error"].startswith("frame unreadable")
    ok = table[table["status"] == "ok"]
    assert len(ok) == 6
    assert ok["mask_doubt"].between(0, 1).all() and pd.isna(bad["mask_doubt"])
    for row in ok.itertuples():
        with Image.open(row.mask_path) as im:
            assert im.size == (row.sheet_w, row.sheet_h) == (row.mask_w, row.mask_h)
