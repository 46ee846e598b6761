"""Does a refactor change what a run writes? The same small deterministic run at two revisions.

Runs the workflow on a small synthetic collection (demo settings, fewer and smaller sheets, fixed
epochs instead of a time budget, deterministic training) at ``--base`` and at the working tree,
then compares every table and mask the two runs wrote: CSV cell by cell and JSON key by key
(columns and keys that hold wall-clock times, dates or the run's own folder excepted), figures
that plot wall-clock time not at all, everything else byte by byte.

    .venv/bin/python benchmarks/same_outputs.py --base e0aa841

Exit status 0 when the outputs agree; the differences otherwise.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
CONFIG = {
    "sheets": "sheets",
    "annotations": "masks",
    "results": "results",
    "synth": {
        "enabled": True,
        "n_sheets": 12,
        "seed": 7,
        "width": 800,
        "height": 1200,
        "dpi": 120,
        "truth": "truth.csv",
    },  # fmt: skip
    "ingest": {"shard_size": 6},
    "resize": {"size": 128},
    "model": {"encoder": "timm-tf_efficientnet_lite0", "encoder_weights": "imagenet"},
    "train": {
        "batch_size": 4,
        "epochs": 3,
        "lr": 1e-3,
        "num_workers": 0,
        "deterministic": True,
        "max_minutes": None,
    },  # fmt: skip
    "predict": {"batch_size": 4},
    "measure": {"min_leaf_px": 50},
    "threads": {"ingest": 2, "resize": 2, "train": 2, "predict": 2, "measure": 1},
}
# Tables or columns that record when or how long, not what: they differ between any two runs.
SKIP_PARTS = {"logs", "benchmarks", ".snakemake", "bundle"}
VOLATILE = ("seconds", "time", "date", "created", "elapsed", "minutes", "duration", "path")
# Figures of wall-clock time (training.png plots seconds per epoch).
TIME_FIGURES = {"training.png"}


def _stable_json(path: Path) -> object:
    """A JSON file without its volatile keys (a model card's ``created_utc``), recursively."""

    def strip(node: object) -> object:
        if isinstance(node, dict):
            return {k: strip(v) for k, v in node.items()
                    if not any(w in k.lower() for w in VOLATILE)}  # fmt: skip
        if isinstance(node, list):
            return [strip(v) for v in node]
        return node

    return strip(json.loads(path.read_text()))


def run_at(source: Path, work: Path) -> Path:
    """One run of ``source``'s Snakefile (its own ``src`` first on the path) in ``work``."""
    work.mkdir(parents=True, exist_ok=True)
    (work / "config.yaml").write_text(yaml.safe_dump(CONFIG))
    env = {**os.environ, "PYTHONPATH": str(source / "src"), "PYTHONWARNINGS": "ignore"}
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(source / "Snakefile"),
           "--directory", str(work), "--configfile", str(work / "config.yaml"),
           "--cores", "2"]  # fmt: skip
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=source)
    if proc.returncode:
        raise SystemExit(f"run at {source} failed:\n{proc.stderr[-4000:]}")
    return work / "results"


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def compare(a: Path, b: Path) -> list[str]:
    """Every difference between two results folders, one line each."""
    files_a = {p.relative_to(a) for p in a.rglob("*") if p.is_file()}
    files_b = {p.relative_to(b) for p in b.rglob("*") if p.is_file()}
    keep = {p for p in files_a | files_b if not SKIP_PARTS & set(p.parts)}
    out = [f"only in base: {p}" for p in sorted(keep & files_a - files_b)]
    out += [f"only in new: {p}" for p in sorted(keep & files_b - files_a)]
    for rel in sorted(keep & files_a & files_b):
        pa, pb = a / rel, b / rel
        if rel.suffix == ".csv":
            ta, tb = pd.read_csv(pa, dtype=str), pd.read_csv(pb, dtype=str)
            if list(ta.columns) != list(tb.columns):
                out.append(f"{rel}: columns differ {list(ta.columns)} vs {list(tb.columns)}")
                continue
            cols = [c for c in ta.columns if not any(v in c.lower() for v in VOLATILE)]
            if len(ta) != len(tb) or not ta[cols].fillna("").equals(tb[cols].fillna("")):
                diff = [c for c in cols if len(ta) != len(tb) or not ta[c].equals(tb[c])]
                out.append(f"{rel}: values differ in {diff}")
        elif rel.suffix == ".json":
            if _stable_json(pa) != _stable_json(pb):
                out.append(f"{rel}: values differ (volatile keys aside)")
        elif rel.name in TIME_FIGURES:
            continue
        elif rel.suffix in {".png", ".txt", ".safetensors", ".geojson"}:
            if digest(pa) != digest(pb):
                out.append(f"{rel}: bytes differ")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="git revision to compare against")
    parser.add_argument("--keep", type=Path, help="keep both runs under this folder")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp)
        base_src = root / "base-src"
        subprocess.run(["git", "worktree", "add", "--detach", str(base_src), args.base],
                       cwd=REPO, check=True, capture_output=True)  # fmt: skip
        try:
            res_base = run_at(base_src, root / "base-run")
            res_new = run_at(REPO, root / "new-run")
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(base_src)], cwd=REPO)
        diffs = compare(res_base, res_new)
        n = sum(1 for p in res_new.rglob("*") if p.is_file())
    print(f"{args.base} vs working tree: {n} files written; {len(diffs)} differences")
    for line in diffs:
        print("  " + line)
    return 1 if diffs else 0


if __name__ == "__main__":
    raise SystemExit(main())
