"""A real SLURM: the tiny end-to-end workflow through profiles/slurm on a single-node cluster.

tests/cluster/slurm_up.sh starts slurmctld and slurmd from Debian's packages on this machine (one
node, a CPU partition and a "GPU" partition with one fake GPU). The workflow runs through the
cluster profile as its user would edit it, plus what this cluster needs (`squeue` for status, as
there is no accounting database; a short first status check; keeping the SLURM logs). Checked:
every non-local job went through sbatch (Snakemake's submission lines, the SLURM log files, and
`scontrol show job` / jobcomp.log for state, partition, CPUs, memory and time limit), local rules
never did, the outputs equal a local run's through profiles/default, and rerunning a stage
(`--forcerun`, `--until`, one shard, a changed measure setting) replans and reruns only what it
must, under the cluster profile (test_workflow.py reads the same plans under profiles/default).

Needs root. Skips when not root or SLURM cannot be installed, unless HERBSEG_SLURM_TEST=1 (CI),
where it fails instead. Takes about 3 minutes on 2 cores.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.helpers import REPO, SNAKEMAKE, TINY, edited_slurm_profile, planned_rules, run_snakemake

pytestmark = [pytest.mark.slurm, pytest.mark.workflow]

REQUIRED = os.environ.get("HERBSEG_SLURM_TEST") == "1"
CLUSTER = REPO / "tests" / "cluster"
STATE = Path(os.environ.get("HERBSEG_SLURM_DIR", "/tmp/herbseg-slurm"))
PARTITION = os.environ.get("HERBSEG_SLURM_PARTITION", "herbseg")
GPU_PARTITION = os.environ.get("HERBSEG_SLURM_GPU_PARTITION", "herbseg-gpu")
# What this test cluster needs beyond the user's edits: no accounting database, so `squeue`
# (MinJobAge=900 >= 3 x 2 s) instead of `sacct`, a first status check after 2 s instead of 40 s,
# and the SLURM logs of successful jobs kept to be checked. (The plugin adds 10 s to the wait
# after each check that finds no job ended, so most jobs here cost 12-14 s whatever their length;
# a 5 s first check made them cost 20 s.)
CLUSTER_ARGS = (
    "--slurm-status-command", "squeue",
    "--slurm-init-seconds-before-status-checks", "2",
    "--slurm-keep-successful-logs",
)  # fmt: skip
LIMIT_S = 900  # one Snakemake run on the cluster; it is stopped with SIGINT after that
REMOTE = {"synth", "ingest", "resize", "train", "predict", "measure", "evaluate"}
LOCAL = {"split", "aggregate", "demo_check"}
UPSTREAM_OF_MEASURE = {"synth", "ingest", "resize", "split", "train", "evaluate", "predict"}
CONFIG = {
    **TINY,
    "sheets": "demo/sheets",
    "annotations": "demo/masks",
    "results": "demo/results",
    "synth": {"enabled": True, "n_sheets": 8, "seed": 3, "width": 300, "height": 450,
              "dpi": 60, "truth": "demo/truth.csv"},
    "ingest": {"shard_size": 4},
    "train": {**TINY["train"], "deterministic": True},
}  # fmt: skip
# The pipeline and its checks, not the report and bundle jobs after them: every remote rule of
# REMOTE and LOCAL runs, and each stage the cluster waits for costs a status-check round (12 s).
TARGETS = ("demo/results/leaf_area.csv", "demo/results/evaluate/summary.csv",
           "demo/results/demo_check.csv")  # fmt: skip
TIMES: dict[str, float] = {}


def skip_or_fail(reason: str):
    if REQUIRED:
        pytest.fail(f"{reason} (HERBSEG_SLURM_TEST=1 requires the SLURM test)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def slurm():
    """A running single-node SLURM: started here (and stopped after), or one already up."""
    if os.geteuid() != 0:
        skip_or_fail("needs root to start SLURM with tests/cluster/slurm_up.sh")
    env = {**os.environ, "HERBSEG_SLURM_DIR": str(STATE)}
    t0 = time.perf_counter()
    up = subprocess.run(
        ["bash", str(CLUSTER / "slurm_up.sh")], capture_output=True, text=True, env=env,
        timeout=900,
    )  # fmt: skip
    TIMES["slurm_up"] = time.perf_counter() - t0
    if up.returncode == 3:
        skip_or_fail(f"SLURM packages are missing and could not be installed: {up.stderr}")
    if up.returncode == 4 and "not this test cluster's" in up.stderr:
        skip_or_fail(f"a real SLURM is configured on this machine: {up.stderr}")
    assert up.returncode == 0, f"slurm_up.sh failed ({up.returncode}):\n{up.stderr}"
    started_here = "already up" not in up.stderr
    previous_conf = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = str(STATE / "etc" / "slurm.conf")
    yield STATE
    if previous_conf is None:
        os.environ.pop("SLURM_CONF", None)
    else:
        os.environ["SLURM_CONF"] = previous_conf
    if started_here:
        subprocess.run(["bash", str(CLUSTER / "slurm_down.sh")], env=env, timeout=120)
    print("\nSLURM test timings (s): " + ", ".join(f"{k} {v:.0f}" for k, v in TIMES.items()))


def run_on_slurm(workdir: Path, profile: Path, config: dict, *args: str):
    """run_snakemake's command through the cluster profile, stopped with SIGINT at LIMIT_S (a
    Snakemake waiting on a job status that never comes ignores SIGTERM)."""
    workdir.mkdir(parents=True, exist_ok=True)
    cfg = workdir / "config.yaml"
    cfg.write_text(yaml.safe_dump(config))
    cmd = ["timeout", "-s", "INT", "-k", "30", str(LIMIT_S), *SNAKEMAKE,
           "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
           "--configfile", str(cfg), "--cores", "2", "--workflow-profile", str(profile),
           *CLUSTER_ARGS, *args]  # fmt: skip
    proc = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    text = proc.stdout + proc.stderr
    if proc.returncode != 0:
        ctld = (STATE / "slurmctld.log").read_text()[-3000:] if STATE.exists() else ""
        raise AssertionError(
            f"snakemake on SLURM failed ({proc.returncode}):\n{text[-8000:]}\n"
            f"slurmctld.log:\n{ctld}"
        )
    return text


def submissions(text: str) -> list[dict]:
    """The executor's own record of each sbatch: Snakemake job, SLURM job id, SLURM log."""
    found = re.findall(
        r"Job (\d+) has been submitted with SLURM jobid (\d+) \(log: (.+?)\)\.", text
    )
    return [
        {"rule": re.search(r"/rule_(\w+)/", log).group(1), "slurm_id": sid, "log": Path(log)}
        for _, sid, log in found
    ]


def scontrol(slurm_id: str) -> dict[str, str]:
    out = subprocess.run(
        ["scontrol", "show", "job", "-o", slurm_id], capture_output=True, text=True, check=True
    ).stdout
    return dict(re.findall(r"(\w+)=(\S*)", out))


def jobcomp(state: Path) -> dict[str, dict[str, str]]:
    """jobcomp/filetxt's record of every ended job, by job id."""
    records = {}
    for line in (state / "jobcomp.log").read_text().splitlines():
        fields = dict(re.findall(r"(\w+)=(\S*)", line))
        records[fields["JobId"]] = fields
    return records


def job_resources(log: Path) -> dict[str, str]:
    """The resources the job's own Snakemake reported, read from its SLURM log."""
    line = re.search(r"^\s+resources: (.*)$", log.read_text(), re.M).group(1)
    return dict(item.split("=", 1) for item in line.split(", "))


def minutes(limit: str) -> int:
    """SLURM's time limit ([D-]HH:MM:SS or MM:SS) in minutes."""
    days, _, clock = limit.rpartition("-")
    parts = [int(p) for p in clock.split(":")]
    while len(parts) < 3:
        parts.insert(0, 0)
    return int(days or 0) * 1440 + parts[0] * 60 + parts[1]


@pytest.fixture(scope="module")
def runs(slurm, tmp_path_factory):
    """The same tiny collection run locally (profiles/default) and on SLURM (profiles/slurm), at
    the same time: the local run fills the cluster run's waits for job status."""
    local = tmp_path_factory.mktemp("local")
    cluster = tmp_path_factory.mktemp("cluster")
    # the profile as a user edits it (no accounts here) + this test's fake GPU, asked for by
    # predict as `device: cuda` would, to send a real GPU request through sbatch
    profile = edited_slurm_profile(
        cluster / "profile", account="", partition=PARTITION, gpu_partition=GPU_PARTITION
    )
    text = (profile / "config.yaml").read_text()
    text = text.replace(
        "  predict:\n    slurm_partition: *gpu_partition\n",
        "  predict:\n    slurm_partition: *gpu_partition\n    gpu: 1  # test: the fake GPU\n",
    )
    (profile / "config.yaml").write_text(text)

    def timed(name, func, *args):
        t0 = time.perf_counter()
        out = func(*args)
        TIMES[name] = time.perf_counter() - t0
        return out

    with ThreadPoolExecutor(max_workers=1) as pool:
        local_run = pool.submit(
            timed, "local_run", run_snakemake, local, CONFIG,
            "--workflow-profile", str(REPO / "profiles" / "default"), *TARGETS,
        )  # fmt: skip
        log = timed("slurm_run", run_on_slurm, cluster / "run", profile, CONFIG, *TARGETS)
        local_run.result()
    return {"local": local, "cluster": cluster / "run", "profile": profile, "log": log}


def test_every_remote_job_went_through_sbatch(runs, slurm):
    subs = submissions(runs["log"])
    by_rule: dict[str, list[dict]] = {}
    for s in subs:
        by_rule.setdefault(s["rule"], []).append(s)
    assert REMOTE <= set(by_rule), sorted(by_rule)
    assert not LOCAL & set(by_rule)  # local bookkeeping never reaches the queue
    assert {r: len(by_rule[r]) for r in ("resize", "predict", "measure")} == dict.fromkeys(
        ("resize", "predict", "measure"), 2
    )  # one job per shard
    for rule in LOCAL:
        assert f"localrule {rule}:" in runs["log"]

    run_id = re.search(r"SLURM run ID: (\S+)", runs["log"]).group(1)
    ended = jobcomp(slurm)
    for s in subs:
        # the SLURM log: the job's own Snakemake ran the rule on the node
        assert s["log"].is_file() and s["log"].is_relative_to(
            runs["cluster"] / ".snakemake" / "slurm_logs" / f"rule_{s['rule']}"
        )
        assert re.search(rf"^(rule|checkpoint) {s['rule']}:", s["log"].read_text(), re.M), s
        # SLURM's own view: this run's job, completed, in the rule's partition, sized as the rule
        job = scontrol(s["slurm_id"])
        assert job["JobName"] == run_id and job["JobState"] == "COMPLETED", job
        assert job["Comment"].startswith(f"rule_{s['rule']}"), job
        gpu_rule = s["rule"] in ("train", "predict")
        assert job["Partition"] == (GPU_PARTITION if gpu_rule else PARTITION), job
        res = job_resources(s["log"])
        assert job["MinMemoryNode"] == f"{res['mem_mb']}M", (job, res)
        assert minutes(job["TimeLimit"]) == int(res["runtime"]), (job, res)
        if s["rule"] == "predict":
            assert job["TresPerJob"] == "gres:gpu:1", job  # the fake GPU, through --gpus=1
        else:
            assert "gpu" not in job.get("TresPerJob", ""), job
        assert ended[s["slurm_id"]]["JobState"] == "COMPLETED"
    # threads of the config → CPUs of the job (TINY: train 2, measure 1)
    assert scontrol(by_rule["train"][0]["slurm_id"])["NumCPUs"] == "2"
    assert scontrol(by_rule["measure"][0]["slurm_id"])["NumCPUs"] == "1"


def assert_same_outputs(a: Path, b: Path):
    res_a, res_b = a / "demo" / "results", b / "demo" / "results"
    for name in ("leaf_area.csv", "leaf_traits.csv", "evaluate/summary.csv",
                 "evaluate/per_sheet.csv", "split/split.csv"):  # fmt: skip
        assert (res_a / name).read_bytes() == (res_b / name).read_bytes(), name
    hist_a = pd.read_csv(res_a / "train" / "history.csv").drop(columns="seconds")
    hist_b = pd.read_csv(res_b / "train" / "history.csv").drop(columns="seconds")
    pd.testing.assert_frame_equal(hist_a, hist_b)
    model = Path("train") / "model" / "model.safetensors"
    assert (res_a / model).read_bytes() == (res_b / model).read_bytes()


def test_outputs_equal_a_local_run(runs):
    assert_same_outputs(runs["local"], runs["cluster"])
    summary = pd.read_csv(runs["cluster"] / "demo" / "results" / "evaluate" / "summary.csv")
    assert summary["iou"].between(0, 1).all()


def test_rerun_plans_under_the_cluster_profile(runs):
    """The same plans as under profiles/default, which test_workflow.py reads on the session's
    synthetic run (the default profile is used without asking)."""
    work, profile = runs["cluster"], str(runs["profile"])

    def plan(config: dict, *args: str) -> dict[str, int]:
        return planned_rules(work, config, "--workflow-profile", profile, *args)

    # nothing of the pipeline is left to do (jobs that ran on SLURM recorded their metadata)
    assert not (UPSTREAM_OF_MEASURE | {"measure", "aggregate"}) & set(plan(CONFIG, *TARGETS))
    forced = plan(CONFIG, *TARGETS, "--forcerun", "measure")  # --forcerun takes the rest
    assert forced["measure"] == 2 and "aggregate" in forced
    assert not UPSTREAM_OF_MEASURE & set(forced)
    assert set(plan(CONFIG, "--forcerun", "resize", "--until", "train")) == {
        "resize", "split", "train",
    }  # fmt: skip
    one_shard = plan(CONFIG, "--force", "demo/results/measure/a00000/leaf_area.csv")
    assert one_shard == {"measure": 1}
    changed = plan({**CONFIG, "measure": {"min_leaf_px": 25}}, *TARGETS)
    assert changed["measure"] == 2 and "aggregate" in changed
    assert not UPSTREAM_OF_MEASURE & set(changed)  # never training


def test_forcerun_measure_on_slurm_reruns_only_measure_and_what_follows(runs):
    before = {
        p: p.stat().st_mtime_ns
        for p in (runs["cluster"] / "demo" / "results").rglob("*")
        if p.is_file() and "logs" not in p.parts and "benchmarks" not in p.parts
    }
    t0 = time.perf_counter()
    log = run_on_slurm(runs["cluster"], runs["profile"], CONFIG, *TARGETS, "--forcerun", "measure")
    TIMES["slurm_forcerun_measure"] = time.perf_counter() - t0
    submitted = [s["rule"] for s in submissions(log)]
    assert submitted.count("measure") == 2  # one job per shard
    assert not UPSTREAM_OF_MEASURE & set(submitted), submitted
    assert "localrule aggregate:" in log
    rewritten = {
        p.relative_to(runs["cluster"]) for p, t in before.items() if p.stat().st_mtime_ns != t
    }
    assert Path("demo/results/measure/a00000/leaf_area.csv") in rewritten
    stages = {p.parts[2] for p in rewritten if len(p.parts) > 3}
    assert not stages & UPSTREAM_OF_MEASURE, sorted(rewritten)
    assert_same_outputs(runs["local"], runs["cluster"])
