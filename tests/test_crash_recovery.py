"""Crash, ``--unlock``, ``--rerun-incomplete``: the real Snakefile killed with SIGKILL.

One case of benchmarks/fault_injection.py (which runs 30+ across every stage; killing between
epochs is covered without Snakemake in test_train.py): the workflow up to training, killed once
every epoch is recorded (after the best one, whichever it was), must rerun to the same model
bytes, card and history as an uninterrupted run. Before issue 20 this
rerun failed with ``MissingOutputException``: Snakemake deleted the killed job's ``model/`` and
nothing rebuilt it.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from tests.helpers import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
from fault_injection import (  # noqa: E402
    CONFIG,
    RES,
    Trigger,
    _env,
    history_rows,
    kill_tree,
    run,
    snakemake_cmd,
    write_config,
)

pytestmark = pytest.mark.workflow

TARGETS = (f"{RES}/train/model", f"{RES}/train/history.csv")


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """An uninterrupted run up to training (3 deterministic CPU epochs)."""
    work = tmp_path_factory.mktemp("reference")
    write_config(work, CONFIG)
    proc = run(work, *TARGETS)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return work


def crash_training(reference: Path, work: Path, trigger: Trigger, sig: int) -> None:
    """The reference's folder with training to do again, hit by ``sig`` (whole process tree)
    when ``trigger`` fires; asserts it was hit while training ran."""
    shutil.copytree(reference, work, symlinks=True)
    shutil.rmtree(work / RES / "train")
    proc = subprocess.Popen(
        snakemake_cmd(work, "--forcerun", "train", *TARGETS),
        cwd=REPO,
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 600
    while not trigger.ready(work) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert proc.poll() is None, "training ended before the kill point"
    assert kill_tree(proc, sig) >= 2  # Snakemake and its training job
    proc.wait(timeout=120)
    assert proc.returncode != 0


def assert_same_training(a: Path, b: Path) -> None:
    ma, mb = a / RES / "train/model", b / RES / "train/model"
    for name in ("model.safetensors", "config.json"):
        assert (ma / name).read_bytes() == (mb / name).read_bytes(), name
    ca = json.loads((ma / "model_card.json").read_text())
    cb = json.loads((mb / "model_card.json").read_text())
    assert ca.pop("created_utc") and cb.pop("created_utc")
    assert ca == cb
    ha = pd.read_csv(a / RES / "train/history.csv").drop(columns="seconds")
    hb = pd.read_csv(b / RES / "train/history.csv").drop(columns="seconds")
    pd.testing.assert_frame_equal(ha, hb)


def test_sigkill_after_the_best_epoch_then_rerun_incomplete(reference, tmp_path):
    work = tmp_path / "crash"
    crash_training(reference, work, history_rows(CONFIG["train"]["epochs"]), signal.SIGKILL)
    ckpt = work / RES / "train/checkpoint.pt"
    assert ckpt.exists()
    assert run(work, "--unlock").returncode == 0
    rerun = run(work, "--rerun-incomplete", *TARGETS)
    assert rerun.returncode == 0, rerun.stderr[-4000:]
    log = (work / RES / "logs/train.log").read_text()
    assert "resumed at epoch 4/3" in log and "epoch 3/3" not in log  # nothing trained again
    assert_same_training(work, reference)
