"""The learned baseline's fit on a finished demo run: another revision's code against this
checkout's, side by side, and whether the fitted models are identical.

Fitting reads the train + val sheets, analyses each (Lab colours, features, colour classes) and
scores 18 thresholds per sheet after the object filter and clean-up. Until 2026-12-02 the filter
recomputed each sheet's hue for every threshold, on one thread; now the colour classes are
computed once per sheet and sheets are analysed and scored on the job's threads (2 in the rule).

Run after ``make demo`` (or on any finished run with a ``split/split.csv``), with the other
revision checked out beside this one:
  git worktree add /tmp/herbseg-old f4a8ec2
  .venv/bin/python benchmarks/baseline_fit.py --old-src /tmp/herbseg-old/src --run demo
Writes benchmarks/results/baseline_fit.txt.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from _report import write_report

HERE = Path(__file__).resolve().parent

FIT = """
import inspect, json, sys, time
from dataclasses import asdict
import pandas as pd
from herbseg.stages.baseline import BaselineSettings, fit_rows
run, threads = sys.argv[1], int(sys.argv[2])
res = run + "/results/"
rows = pd.read_csv(res + "ingest/manifest.csv").merge(pd.read_csv(res + "split/split.csv"),
                                                     on="sheet_id")
rows = rows[rows["split"].isin(["train", "val"])].copy()
for col in ("path", "mask_path"):
    rows[col] = [p if p.startswith("/") else run + "/../" + p for p in rows[col]]
kw = {"threads": threads} if "threads" in inspect.signature(fit_rows).parameters else {}
t0 = time.perf_counter()
model = fit_rows(rows, BaselineSettings(), log=lambda m: None, **kw)
print(json.dumps({"seconds": time.perf_counter() - t0, "sheets": len(rows),
                  "model": asdict(model)}))
"""


def fit(src: Path, run: Path, threads: int) -> dict:
    """One fit in a fresh interpreter with ``src`` first on the path."""
    env = {**os.environ, "PYTHONPATH": str(src), "PYTHONWARNINGS": "ignore"}
    out = subprocess.run([sys.executable, "-c", FIT, str(run), str(threads)], env=env,
                         check=True, capture_output=True, text=True).stdout  # fmt: skip
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--old-src", type=Path, required=True)
    ap.add_argument("--run", type=Path, required=True, help="a finished demo folder, e.g. demo")
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    run = args.run.resolve()
    cases = [("old, 1 thread", args.old_src, 1), ("new, 1 thread", HERE.parent / "src", 1),
             ("new, 2 threads", HERE.parent / "src", 2)]  # fmt: skip
    results: dict[str, list[dict]] = {name: [] for name, *_ in cases}
    for i in range(args.rounds):  # alternate the order
        for name, src, threads in cases if i % 2 == 0 else cases[::-1]:
            results[name].append(fit(src, run, threads))
            print(name, round(results[name][-1]["seconds"], 1), flush=True)
    old = results[cases[0][0]]
    lines = [f"learned baseline fit on {old[0]['sheets']} sheets of {run}; old: {args.old_src}; "
             f"best of {args.rounds} alternating rounds, load {os.getloadavg()[0]:.2f}",
             f"{'case':16s} {'seconds':>8s} {'vs old':>7s}  model"]  # fmt: skip
    best_old = min(r["seconds"] for r in old)
    for name, *_ in cases:
        best = min(r["seconds"] for r in results[name])
        same = all(r["model"] == old[0]["model"] for r in results[name])
        lines.append(f"{name:16s} {best:8.1f} {best_old / best:6.2f}x  "
                     f"{'identical to old' if same else 'DIFFERS from old'}")  # fmt: skip
    write_report(lines, HERE / "results" / "baseline_fit.txt")


if __name__ == "__main__":
    main()
