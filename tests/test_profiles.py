"""The workstation profile (profiles/default) and the cluster profile (profiles/slurm).

Both parse and drive Snakemake's own dry run, no cluster needed; the cluster profile asks its user
to edit only the account and the partitions; and every job's threads and resources, as Snakemake
plans them, come from the config and the shard's sheets and never exceed what a node gives.
The real SLURM run is tests/test_slurm.py.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from herbseg.io.sheets import MANIFEST_COLUMNS
from herbseg.plan import job_stats
from herbseg.stages.ingest import PROBLEM_COLUMNS, assign_shards, write_shards
from tests.helpers import REPO, TINY, edited_slurm_profile, run_snakemake

PROFILES = REPO / "profiles"
DEFAULT = PROFILES / "default"
SLURM = PROFILES / "slurm"
PLACEHOLDER = "EDIT_ME"
OLD = time.time() - 30 * 24 * 3600  # sheet folders older than the ingest outputs


def planned_jobs(text: str) -> list[dict]:
    """Every job block of a dry run: rule, wildcards, threads and resources as Snakemake prints."""
    jobs = []
    for block in re.split(r"\n(?=\[[^\]]+\]\n(?:local)?(?:rule|checkpoint) )", text):
        m = re.search(r"^(?:local)?(?:rule|checkpoint) (\w+):", block, re.M)
        if not m:
            continue
        job = {"rule": m.group(1), "threads": 1, "resources": {}, "wildcards": ""}
        if t := re.search(r"^\s+threads: (\d+)", block, re.M):
            job["threads"] = int(t.group(1))
        if w := re.search(r"^\s+wildcards: (.*)$", block, re.M):
            job["wildcards"] = w.group(1)
        if r := re.search(r"^\s+resources: (.*)$", block, re.M):
            for item in r.group(1).split(", "):
                key, _, value = item.partition("=")
                job["resources"][key] = int(value) if value.isdigit() else value
        jobs.append(job)
    return jobs


def dry_run(workdir: Path, config: dict, *args: str) -> tuple[str, list[dict]]:
    out = run_snakemake(workdir, config, "-n", *args)
    text = out.stdout + out.stderr
    return text, planned_jobs(text)


def one(jobs: list[dict], rule: str, shard: str | None = None) -> dict:
    found = [j for j in jobs if j["rule"] == rule and (shard is None or shard in j["wildcards"])]
    assert len(found) == 1, (rule, shard, [j["rule"] for j in jobs])
    return found[0]


def test_default_profile_is_a_workstation():
    profile = yaml.safe_load((DEFAULT / "config.yaml").read_text())
    assert "executor" not in profile  # local
    assert profile["cores"] == "all"
    assert profile["resources"] == {"gpu": 1}  # CUDA jobs never share the GPU
    assert profile["rerun-incomplete"] is True
    assert profile["printshellcmds"] is True
    assert profile["show-failed-logs"] is True


def test_slurm_profile_asks_only_for_the_account_and_the_partitions():
    text = (SLURM / "config.yaml").read_text()
    edit_lines = [line for line in text.splitlines() if "# EDIT" in line]
    assert [line.split(":")[0].strip() for line in edit_lines] == [
        "slurm_account",
        "slurm_partition",
        "slurm_partition",  # train/predict: a GPU partition, shared by both through an anchor
    ]
    placeholder_lines = [line for line in text.splitlines() if PLACEHOLDER in line]
    assert [line for line in placeholder_lines if "EDIT:" in line] == edit_lines
    assert all(line.count(PLACEHOLDER) == 1 for line in edit_lines)

    profile = yaml.safe_load(text)
    assert profile["executor"] == "slurm"
    assert isinstance(profile["jobs"], int) and profile["jobs"] > 1
    assert isinstance(profile["max-threads"], int)  # threads: of the config capped at a node
    assert isinstance(profile["resources"]["mem_mb"], int)  # memory capped at a node
    assert profile["rerun-incomplete"] and profile["show-failed-logs"]
    defaults = profile["default-resources"]
    assert {"slurm_account", "slurm_partition", "runtime", "mem_mb"} <= set(defaults)
    # the GPU rules go to the GPU partition; nothing else is rule-specific
    assert set(profile["set-resources"]) == {"train", "predict"}
    for rule in ("train", "predict"):
        assert profile["set-resources"][rule] == {"slurm_partition": PLACEHOLDER}
    # a cluster's status command is found by the plugin (sacct where there is accounting)
    assert not any(key.startswith("slurm-") for key in profile)


def test_edited_slurm_profile_changes_only_the_edit_lines(tmp_path):
    edited = edited_slurm_profile(
        tmp_path / "p", account="lab42", partition="cpu", gpu_partition="gpu"
    )
    before = (SLURM / "config.yaml").read_text().splitlines()
    after = (edited / "config.yaml").read_text().splitlines()
    changed = [b for a, b in zip(after, before) if a != b]
    assert len(before) == len(after) and len(changed) == 3
    profile = yaml.safe_load("\n".join(after))
    assert profile["default-resources"]["slurm_account"] == "lab42"
    assert profile["default-resources"]["slurm_partition"] == "cpu"
    assert profile["set-resources"]["train"]["slurm_partition"] == "gpu"
    assert profile["set-resources"]["predict"]["slurm_partition"] == "gpu"


@pytest.fixture(scope="module")
def ingested(tmp_path_factory) -> tuple[Path, dict]:
    """A collection that ingest has already listed (the sheets never exist: a plan never opens
    them): a00000 10 and a00001 2 annotated sheets of 80 MP, c00000 10 sheets of 6 MP and
    c00001 10 sheets of 100 MP."""
    work = tmp_path_factory.mktemp("ingested")
    n = 32
    ids = [f"s{i:03d}" for i in range(n)]
    annotated = [i < 12 for i in range(n)]
    big = [i >= 22 for i in range(n)]
    manifest = pd.DataFrame(
        {
            "sheet_id": ids,
            "path": [f"sheets/{s}.jpg" for s in ids],
            "bytes": 1_000_000,
            "width": [10_000 if b else 8_000 if a else 2_000 for a, b in zip(annotated, big)],
            "height": [10_000 if b else 10_000 if a else 3_000 for a, b in zip(annotated, big)],
            "mode": "RGB",
            "dpi_x": 300.0,
            "dpi_y": 300.0,
            "has_mask": annotated,
            "status": "ok",
            "error": "",
            "sha256": "0" * 64,
            "mask_path": [f"masks/{s}.png" if a else "" for s, a in zip(ids, annotated)],
            "shard": "",
        }
    )[MANIFEST_COLUMNS]
    manifest["shard"] = assign_shards(manifest, {}, 10)
    ingest_dir = work / "results" / "ingest"
    summary, _ = write_shards(manifest, ingest_dir / "shards")
    manifest.to_csv(ingest_dir / "manifest.csv", index=False)
    pd.DataFrame(columns=PROBLEM_COLUMNS).to_csv(ingest_dir / "problems.csv", index=False)
    summary.to_csv(ingest_dir / "shards.csv", index=False)
    assert list(summary["shard"]) == ["a00000", "a00001", "c00000", "c00001"]
    for folder, name in (("sheets", "s.jpg"), ("masks", "s.png")):
        (work / folder).mkdir()
        (work / folder / name).touch()  # the start-up checks want a sheet and a matching mask
        os.utime(work / folder, (OLD, OLD))
    config = {
        "sheets": "sheets",
        "annotations": "masks",
        "results": "results",
        "ingest": {"shard_size": 10},
        "model": {"encoder_weights": None},  # plans only: no ImageNet weights are read
    }
    return work, config


@pytest.mark.workflow
@pytest.mark.parametrize("profile", ["default", "slurm"])
def test_each_profile_drives_a_dry_run(ingested, profile):
    """The cluster profile named on the command line; the default one used without asking."""
    work, config = ingested
    if profile == "default":
        text, jobs = dry_run(work, config)
        assert f"workflow specific profile {Path('profiles') / 'default'}" in text
    else:
        text, jobs = dry_run(work, config, "--workflow-profile", str(PROFILES / profile))
        assert f"workflow specific profile {PROFILES / profile}" in text
    planned = job_stats(text)  # the same dry run's job-stats table
    assert planned.items() >= {
        "resize": 4, "split": 1, "train": 1, "evaluate": 1, "predict": 4, "measure": 4,
        "aggregate": 1,
    }.items()  # fmt: skip
    assert "ingest" not in planned
    for job in jobs:
        if profile == "slurm" and job["rule"] != "all":
            res = job["resources"]
            gpu_rule = job["rule"] in ("train", "predict")
            assert res["slurm_partition"] == PLACEHOLDER, job
            assert res["slurm_account"] == PLACEHOLDER, job
            assert gpu_rule or "gpu" not in res
        if job["rule"] in ("train", "predict"):
            assert job["resources"]["gpu"] == 0  # device: auto requests no GPU


@pytest.mark.workflow
@pytest.mark.parametrize("profile", ["default", "slurm"])
def test_cuda_in_the_config_asks_the_scheduler_for_a_gpu(ingested, profile):
    work, config = ingested
    cuda = {**config, "train": {"device": "cuda"}, "predict": {"device": "cuda"}}
    _, jobs = dry_run(work, cuda, "--workflow-profile", str(PROFILES / profile))
    for job in jobs:
        expected = 1 if job["rule"] in ("train", "predict") else None
        assert job["resources"].get("gpu") == expected, job


@pytest.mark.workflow
def test_no_job_asks_for_more_than_a_node_gives(ingested, tmp_path):
    """Threads of the config above the node's CPUs and shards of huge sheets: capped by the
    profile's max-threads and `resources: mem_mb` (here a node of 3 CPUs and 5 GB)."""
    work, config = ingested
    greedy = {**config, "threads": {"ingest": 32, "resize": 32, "train": 32, "predict": 32,
                                    "measure": 32}}  # fmt: skip
    node = edited_slurm_profile(
        tmp_path / "node",
        account="a",
        partition="cpu",
        gpu_partition="gpu",
    )
    text = (node / "config.yaml").read_text()
    text = re.sub(r"(?m)^max-threads: \d+", "max-threads: 3", text)
    text = re.sub(r"(?m)^  mem_mb: \d+(\s+# no job asks)", r"  mem_mb: 5000\1", text)
    (node / "config.yaml").write_text(text)
    _, jobs = dry_run(work, greedy, "--workflow-profile", str(node), "--cores", "64")
    assert {j["rule"] for j in jobs} >= {"resize", "train", "predict", "measure"}
    for job in jobs:
        assert job["threads"] <= 3, job
        assert job["resources"].get("mem_mb", 0) <= 5000, job
    assert one(jobs, "measure", "c00001")["resources"]["mem_mb"] == 5000  # 100 MP sheets


@pytest.mark.workflow
def test_shard_jobs_are_sized_from_their_sheets_and_the_config(ingested):
    work, config = ingested
    _, jobs = dry_run(work, {**config, "threads": TINY["threads"]}, "--cores", "2")
    resize = {s: one(jobs, "resize", s)["resources"] for s in ("a00000", "a00001", "c00001")}
    measure = {s: one(jobs, "measure", s)["resources"] for s in ("c00000", "c00001")}
    predict = {s: one(jobs, "predict", s)["resources"] for s in ("c00000", "c00001")}
    # bigger sheets need more memory, more sheets more time
    assert resize["c00001"]["mem_mb"] > resize["a00000"]["mem_mb"] >= 1000
    assert resize["a00000"]["mem_mb"] == resize["a00001"]["mem_mb"]
    assert measure["c00001"]["mem_mb"] > measure["c00000"]["mem_mb"]
    assert predict["c00001"]["mem_mb"] > predict["c00000"]["mem_mb"]
    assert resize["a00000"]["runtime"] > resize["a00001"]["runtime"] >= 10
    assert measure["c00001"]["runtime"] > measure["c00000"]["runtime"]
    # the model's memory follows batch size and frame; training time follows its budget
    bigger_batch = {**config, "predict": {"batch_size": 32}, "train": {"max_minutes": 90}}
    _, jobs2 = dry_run(work, bigger_batch, "--cores", "2")
    assert one(jobs2, "predict", "c00000")["resources"]["mem_mb"] > predict["c00000"]["mem_mb"]
    assert one(jobs2, "train")["resources"]["runtime"] == 120
    assert one(jobs, "train")["resources"]["runtime"] == 24 * 60
    # predicted masks at a bounded size need less memory to write
    small_masks = {**config, "predict": {"long_side": 2000}}
    _, jobs3 = dry_run(work, small_masks, "--cores", "2")
    assert one(jobs3, "predict", "c00001")["resources"]["mem_mb"] < predict["c00001"]["mem_mb"]
