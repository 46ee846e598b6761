"""Every start-up error on a 10,000-sheet folder fails in seconds, before anything is written.

Builds a folder of 10,000 small JPEG sheets (100 of them annotated), then runs the real Snakefile
once per mistake a user makes (issues 13 and 16): a missing ImageNet weight (ResNet-101 offline,
empty Hugging Face cache), a sheets folder that does not exist or holds no image (10,000 text
files), annotations that match none of the 10,000 sheets, ``annotations=null`` on the command
line with no model to use, a batch size of 1, an unknown encoder, a CUDA device on a machine
without one, and a results folder that cannot be written. Each must exit non-zero with one
``herbseg:`` line naming its key, within 10 s, with no results folder. CPU seconds are what a
quiet machine's wall time approaches (this start-up is single-threaded).

Run: PYTHONPATH=src .venv/bin/python benchmarks/startup_errors.py [--sheets 10000] [--only NAME]
Writes ``benchmarks/results/startup_errors.txt``.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import write_report  # noqa: E402

# The packaged Lite0 weights: every case but the weights one resolves its encoder offline.
GOOD_MODEL = {"encoder": "timm-tf_efficientnet_lite0", "encoder_weights": "imagenet"}
# name → (config over the valid one, extra command-line words, the key the message must name)
CASES: dict[str, tuple[dict, list[str], str]] = {
    "missing ImageNet weight": (
        {"model": {"encoder": "resnet101", "encoder_weights": "imagenet", "offline": True}},
        [], "model.encoder_weights",
    ),
    "sheets folder missing": ({"sheets": "no_such_folder"}, [], "sheets"),
    "sheets folder without images": ({"sheets": "texts"}, [], "sheets"),
    "annotations matching no sheet": ({"annotations": "other_masks"}, [], "annotations"),
    "annotations=null, no model": ({}, ["--config", "annotations=null"], "annotations"),
    "batch size 1": ({"train": {"batch_size": 1}}, [], "train.batch_size"),
    "unknown encoder": ({"model": {"encoder": "resnet10l", "encoder_weights": None}}, [],
                        "model.encoder"),
    "CUDA device without a GPU": ({"predict": {"device": "cuda"}}, [], "predict.device"),
    "results not writable": ({"results": "/proc/herbseg-results"}, [], "results"),
}  # fmt: skip


def build_folder(root: Path, n: int) -> None:
    """``sheets/`` (n JPEGs), ``masks/`` (the first 100 annotated), ``other_masks/`` (masks of
    sheets that are not there) and ``texts/`` (n files that are not images)."""
    for name in ("sheets", "masks", "other_masks", "texts"):
        (root / name).mkdir()
    buf = root / "one.jpg"
    Image.fromarray(np.full((64, 48, 3), 200, np.uint8)).save(buf)
    data = buf.read_bytes()
    mask = root / "mask.png"
    Image.fromarray(np.zeros((64, 48), np.uint8)).save(mask)
    for i in range(n):
        (root / "sheets" / f"sheet_{i:06d}.jpg").write_bytes(data)
        (root / "texts" / f"note_{i:06d}.txt").write_text("not a sheet")
    for i in range(min(100, n)):
        (root / "masks" / f"sheet_{i:06d}.png").write_bytes(mask.read_bytes())
        (root / "other_masks" / f"elsewhere_{i:06d}.png").write_bytes(mask.read_bytes())


def merged(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = {**base.get(k, {}), **v} if isinstance(v, dict) else v
    return out


def run_case(root: Path, name: str, over: dict, words: list[str], key: str) -> str:
    """One mistake, run for real (not a dry run: the GPU check only judges a local run)."""
    valid = {"sheets": "sheets", "annotations": "masks", "results": "results",
             "model": GOOD_MODEL}  # fmt: skip
    config = root / "config.yaml"
    config.write_text(yaml.safe_dump(merged(valid, over)))
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "HF_HOME": str(root / "hf"),
           "HF_HUB_OFFLINE": "1"}  # fmt: skip
    cmd = [
        sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
        "--directory", str(root), "--configfile", str(config), "--cores", "2", *words,
    ]  # fmt: skip
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    lines = [ln for ln in (proc.stdout + proc.stderr).splitlines() if ln.startswith("herbseg:")]
    message = lines[0] if lines else "(no herbseg: line)"
    results = Path(over.get("results", root / "results"))
    ok = (proc.returncode != 0 and len(lines) == 1 and f"config key '{key}'" in message
          and wall < 10 and not (root / "results").exists() and not results.exists())  # fmt: skip
    verdict = "ok" if ok else "FAILED"
    return (f"| {name} | {key} | {proc.returncode} | {wall:.1f} | {cpu:.1f} | "
            f"{(root / 'results').exists()} | {verdict} | {message[:160]} |")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sheets", type=int, default=10_000)
    ap.add_argument("--only", help="run only the case whose name contains this")
    args = ap.parse_args()
    load = os.getloadavg()
    rows = []
    with tempfile.TemporaryDirectory(prefix="herbseg-startup-") as tmp:
        root = Path(tmp)
        build_folder(root, args.sheets)
        for name, (over, words, key) in CASES.items():
            if args.only and args.only not in name:
                continue
            rows.append(run_case(root, name, over, words, key))
    lines = [
        f"start-up errors on a folder of {args.sheets} sheets (each a real run of the Snakefile)",
        f"load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, {os.cpu_count()} CPUs",
        "",
        "| mistake | key named | exit | wall s | CPU s | results written | verdict | message |",
        "|---|---|---|---|---|---|---|---|",
        *rows,
    ]
    write_report(lines, REPO / "benchmarks" / "results" / "startup_errors.txt")
    if any("FAILED" in r for r in rows):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
