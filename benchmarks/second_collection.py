"""A model trained on one collection, used predict-only on another (issue 13, item 5).

1. Train: the workflow on a collection with annotations (default: the demo's config, in its own
   folder), which exports ``<results>/model``; or ``--model`` names a saved model folder.
2. Use: the workflow again on the second collection (default: the 12 LeafMachine2 sheets in
   ``../shared/data/leafmachine2_demo``, no masks) with ``model.path`` and ``annotations: null``,
   then ``snakemake --report`` for the overlay page a person judges.
3. Summarise: per sheet, the scale source and px/mm, leaf area and count, and ``model_sha256``.

Run: PYTHONPATH=src .venv/bin/python benchmarks/second_collection.py [--model DIR]
     [--work /tmp/herbseg-second] [--train-config config/demo.yaml]
Writes ``benchmarks/results/second_collection.txt`` and leaves the runs under ``--work``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import write_report  # noqa: E402

SHARED = REPO.parent / "shared" / "data" / "leafmachine2_demo"


def snakemake(workdir: Path, configfile: Path, *args: str) -> float:
    """Run the repository's Snakefile in ``workdir``; returns the wall seconds."""
    cmd = [
        sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
        "--directory", str(workdir), "--configfile", str(configfile), "--cores", "2", *args,
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=REPO, env=env)
    return time.perf_counter() - t0


def train_model(work: Path, train_config: Path) -> tuple[Path, float]:
    """The first collection's run, in its own folder; returns its exported model."""
    first = work / "first"
    first.mkdir(parents=True, exist_ok=True)
    cfg = yaml.safe_load(train_config.read_text())
    cfg["bundle"] = {"enabled": False}
    (first / "config.yaml").write_text(yaml.safe_dump(cfg))
    seconds = snakemake(first, first / "config.yaml", "--rerun-incomplete")
    return first / cfg.get("results", "results") / "model", seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, help="a saved herbseg model folder (skips step 1)")
    ap.add_argument("--work", type=Path, default=Path("/tmp/herbseg-second"))
    ap.add_argument("--train-config", type=Path, default=REPO / "config" / "demo.yaml")
    ap.add_argument("--sheets", type=Path, default=SHARED)
    args = ap.parse_args()
    if not args.sheets.is_dir():
        sys.exit(f"{args.sheets} is not present")
    load = os.getloadavg()
    train_s = 0.0
    model = args.model
    if model is None:
        model, train_s = train_model(args.work, args.train_config)
    second = args.work / "second"
    second.mkdir(parents=True, exist_ok=True)
    cfg = {
        "sheets": str(args.sheets.resolve()),
        "annotations": None,
        "results": "results",
        "model": {"path": str(model.resolve())},
        "report": {"n_random": 12, "long_side": 1200},
    }
    (second / "config.yaml").write_text(yaml.safe_dump(cfg))
    use_s = snakemake(second, second / "config.yaml")
    snakemake(second, second / "config.yaml", "--report", str(second / "report.html"))
    table = pd.read_csv(second / "results" / "leaf_area.csv", dtype={"sheet_id": str})
    cols = ["sheet_id", "status", "scale_source", "px_per_mm", "leaf_area_mm2", "n_leaves"]
    overlays = sorted((second / "results" / "report" / "overlays").rglob("*.jpg"))
    lines = [
        f"model: {model} (sha256 {table['model_sha256'].dropna().iloc[0]})",
        f"second collection: {args.sheets} ({len(table)} sheets, annotations: none)",
        f"load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; "
        f"train run {train_s:.0f} s, predict-only run {use_s:.0f} s (2 cores)",
        "",
        table[cols].to_string(index=False),
        "",
        f"scale sources: {table['scale_source'].value_counts().to_dict()}",
        f"overlay page: {second / 'report.html'} ({len(overlays)} overlays, e.g. {overlays[0]})"
        if overlays
        else "no overlays",
    ]
    write_report(lines, REPO / "benchmarks" / "results" / "second_collection.txt")


if __name__ == "__main__":
    main()
