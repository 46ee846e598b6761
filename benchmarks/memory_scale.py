"""Peak memory of the predict and measure jobs: 10,000 sheets against 1,000, same shard size.

Each collection of small JPEG sheets (64×96 px, 8 of them annotated so the workflow trains its
own tiny model: DeepLabV3+ ResNet-18, no pretrained weights, 64 px frames, one epoch) is run
through the real Snakefile up to ``leaf_area.csv``. Every Python process of the run records its
own peak resident set size (the kernel's high-water mark, ``VmHWM``) when it exits, through a
``sitecustomize`` module put on ``PYTHONPATH`` for the run; Snakemake runs each job's script as
``python .snakemake/scripts/tmpXXXX.<rule>.py``, so every record names its rule. A sampling
profiler would miss short peaks; the high-water mark cannot.

Sharding's promise is that a job's peak depends on the shard size, not on the collection: the
largest predict and measure job over 10 shards should be within 10 % of the one shard of the
1,000-sheet run. The aggregation (collection-wide by design) and Snakemake itself are listed too.

Run: .venv/bin/python benchmarks/memory_scale.py [--sizes 1000 10000] [--shard-size 1000]
Writes benchmarks/results/memory_scale.txt.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml
from _report import write_report
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "benchmarks" / "results" / "memory_scale.txt"
RULES = ("ingest", "resize", "split", "train", "predict", "measure", "aggregate")
SITECUSTOMIZE = '''\
"""Written by benchmarks/memory_scale.py: record this process's peak RSS when it exits."""
import atexit, json, os, resource, sys


def _hwm_kb():
    # VmHWM is this program's own peak; ru_maxrss also counts the parent's peak when the parent
    # was vfork()ed (Python's subprocess does that), so every job would show Snakemake's size.
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _record():
    children_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    line = json.dumps({"argv0": sys.argv[0] if sys.argv else "", "pid": os.getpid(),
                       "self_kb": _hwm_kb(), "children_kb": children_kb})
    with open(os.environ["HERBSEG_RSS_LOG"], "a") as fh:
        fh.write(line + "\\n")


if os.environ.get("HERBSEG_RSS_LOG"):
    atexit.register(_record)
'''


def tiny_config(shard_size: int) -> dict:
    """The workflow at toy scale: what is measured is how memory grows, not absolute figures."""
    return {
        "sheets": "sheets",
        "annotations": "masks",
        "results": "results",
        "ingest": {"shard_size": shard_size},
        "resize": {"size": 64},
        "model": {"encoder": "resnet18", "encoder_weights": None},
        "train": {"epochs": 1, "batch_size": 4, "num_workers": 0, "lr": 1e-3},
        "measure": {"min_leaf_px": 20},
        "threads": {"ingest": 2, "resize": 2, "train": 2, "predict": 2, "measure": 1},
    }


def write_collection(root: Path, n: int, n_annotated: int = 8) -> None:
    """``n`` small sheets (paper, noise, a leaf-green blob) and masks for the first few."""
    rng = np.random.default_rng(0)
    (root / "sheets").mkdir(parents=True)
    (root / "masks").mkdir(parents=True)
    h, w = 96, 64
    for i in range(n):
        arr = np.full((h, w, 3), (235, 228, 205), np.uint8)
        y, x = rng.integers(5, h // 2), rng.integers(5, w // 2)
        arr[y : y + h // 3, x : x + w // 3] = (60, 120, 50)
        arr = (arr + rng.integers(0, 12, arr.shape)).clip(0, 255).astype(np.uint8)
        Image.fromarray(arr).save(root / "sheets" / f"s{i:06d}.jpg", quality=90, dpi=(300, 300))
        if i < n_annotated:
            mask = np.zeros((h, w), np.uint8)
            mask[y : y + h // 3, x : x + w // 3] = 255
            Image.fromarray(mask).save(root / "masks" / f"s{i:06d}_mask.png")


def run_workflow(work: Path, shard_size: int) -> tuple[list[dict], float]:
    """Run the workflow to ``leaf_area.csv``; returns every process's peak RSS and the wall time."""
    (work / "config.yaml").write_text(yaml.safe_dump(tiny_config(shard_size)))
    hook = work / "rss_hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(SITECUSTOMIZE)
    log = work / "rss.jsonl"
    env = {
        **os.environ,
        "PYTHONWARNINGS": "ignore",
        "HERBSEG_RSS_LOG": str(log),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(hook), os.environ.get("PYTHONPATH")])),
    }
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
           "--directory", str(work), "--configfile", str(work / "config.yaml"), "--cores", "2",
           "results/leaf_area.csv"]  # fmt: skip
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"workflow failed ({proc.returncode}):\n{proc.stderr[-5000:]}")
    records = [json.loads(line) for line in log.read_text().splitlines()]
    for r in records:
        m = re.search(r"\.(\w+)\.py$", r["argv0"])
        r["rule"] = m.group(1) if m and m.group(1) in RULES else "snakemake"
    return records, wall


def summarise(records: list[dict]) -> dict[str, dict[str, float]]:
    """Per rule: job count and the largest peak (MB) of any of its jobs."""
    out: dict[str, dict[str, float]] = {}
    for r in records:
        s = out.setdefault(r["rule"], {"jobs": 0, "peak_mb": 0.0})
        s["jobs"] += 1
        s["peak_mb"] = max(s["peak_mb"], r["self_kb"] / 1024)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    ap.add_argument("--shard-size", type=int, default=1000)
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()

    results: dict[int, tuple[dict, float]] = {}
    root = Path(tempfile.mkdtemp(prefix="herbseg_memory_"))
    try:
        for n in args.sizes:
            work = root / f"n{n}"
            write_collection(work, n)
            records, wall = run_workflow(work, args.shard_size)
            results[n] = (summarise(records), wall)
            print(f"{n} sheets: {wall:.0f} s, {results[n][0]}", flush=True)
    finally:
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)

    small, large = args.sizes[0], args.sizes[-1]
    load = os.getloadavg()
    lines = [
        f"peak RSS per job (MB, largest job of each rule), shard_size {args.shard_size}, "
        f"{os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}",
        f"{'rule':<12}" + "".join(f"{f'{n:,} sheets':>22}" for n in args.sizes) + f"{'ratio':>8}",
    ]
    for rule in (*RULES, "snakemake"):
        cells, peaks = "", []
        for n in args.sizes:
            s = results[n][0].get(rule)
            cell = f"{s['peak_mb']:.0f} ({s['jobs']:.0f} jobs)" if s else "-"
            cells += f"{cell:>22}"
            peaks.append(s["peak_mb"] if s else float("nan"))
        lines.append(f"{rule:<12}{cells}{peaks[-1] / peaks[0]:>8.3f}")
    worst = {
        n: max(results[n][0][r]["peak_mb"] for r in ("predict", "measure")) for n in args.sizes
    }
    ratio = worst[large] / worst[small]
    lines.append(
        f"predict + measure peak: {worst[small]:.0f} MB at {small:,} sheets, "
        f"{worst[large]:.0f} MB at {large:,}: ratio {ratio:.3f} "
        f"({'within' if abs(ratio - 1) <= 0.10 else 'NOT within'} 10 %)"
    )
    lines.append("wall: " + ", ".join(f"{n:,} sheets {results[n][1]:.0f} s" for n in args.sizes))
    write_report(lines, args.out)


if __name__ == "__main__":
    main()
