"""What a job pays before its first line of work: the imports of each stage's module, this
checkout against another revision's source, side by side in fresh interpreters.

A stage that only reads or writes model cards (evaluate, baseline, export_model, the bundle)
imported torch and segmentation-models-pytorch through ``herbseg.model.network`` until
2026-12-02; the card functions and the input normalisation now live in ``herbseg.model.card``
and ``herbseg.model.normalisation``, which import neither.

Two measures: the import of each stage module alone, and (``--run``, a finished run's folder) the
jobs themselves: the run is copied once per revision and round, and Snakemake reruns the card
jobs with that revision's Snakefile and source (``--forcerun``, one core); the seconds are the
jobs' own benchmark files. The card jobs import the heavy modules inside their functions, so
only the second measure shows what they paid.

A job's process also pays for its exit: with torch imported, Python's finalisation searched
every object for reference cycles, about 1 s per network job, until ``herbseg.io.logs.job_log``
froze them at exit (2026-12-02). ``--jobs train predict measure`` on a run, against f4a8ec2,
shows that: the jobs' benchmark seconds include the exit, an import alone does not.

Run (about 4 min on 2 cores), with the other revision checked out beside this one and a finished
tiny run (e.g. the tests' ``tiny_run``, or any small run of the demo config):
  git worktree add /tmp/herbseg-old 8a2b94c
  .venv/bin/python benchmarks/job_imports.py --old-src /tmp/herbseg-old/src --run RUN_DIR
Writes benchmarks/results/job_imports.txt (``--out`` another name there).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
MODULES = (
    "herbseg.stages.evaluate",
    "herbseg.stages.baseline",
    "herbseg.stages.export_model",
    "herbseg.reporting.bundle",
    "herbseg.stages.predict",
)


def import_seconds(src: Path, module: str) -> float:
    """Wall seconds of ``python -c 'import module'`` with ``src`` first on the path."""
    env = {**os.environ, "PYTHONPATH": str(src), "PYTHONWARNINGS": "ignore"}
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", f"import {module}"], env=env, check=True)
    return time.perf_counter() - t0


JOBS = ("evaluate", "baseline", "export_model", "bundle")


def _benchmark_seconds(results: Path, job: str) -> float:
    """A job's wall seconds from its Snakemake benchmark file; a rule with a job per shard
    (``benchmarks/predict/a00000.tsv``, …): the mean over its shards."""
    files = [results / "benchmarks" / f"{job}.tsv"]
    if not files[0].exists():
        files = sorted((results / "benchmarks" / job).glob("*.tsv"))
    secs = [float(f.read_text().splitlines()[-1].split()[0]) for f in files]
    return statistics.mean(secs)


def job_seconds(src: Path, run: Path, scratch: Path, jobs: list[str]) -> dict[str, float]:
    """Each of ``jobs``' benchmark seconds when ``src``'s revision reruns them on a copy."""
    work = scratch / "run"
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(run, work, symlinks=True)
    env = {**os.environ, "PYTHONPATH": str(src), "PYTHONWARNINGS": "ignore"}
    subprocess.run(
        [sys.executable, "-m", "snakemake", "--snakefile", str(src.parent / "Snakefile"),
         "--directory", str(work), "--configfile", str(work / "config.yaml"), "--cores", "1",
         "--forcerun", *jobs],
        env=env, check=True, capture_output=True,
    )  # fmt: skip
    results = work / yaml.safe_load((work / "config.yaml").read_text())["results"]
    return {job: _benchmark_seconds(results, job) for job in jobs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old-src", type=Path, required=True)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--run", type=Path, help="a finished run folder (with config.yaml)")
    parser.add_argument("--jobs", nargs="+", default=list(JOBS),
                        help="rules to rerun with --run (default: the card jobs)")  # fmt: skip
    parser.add_argument("--modules", nargs="*", default=list(MODULES),
                        help="stage modules whose import alone is timed (none: skip)")  # fmt: skip
    parser.add_argument("--out", default="job_imports.txt", help="file in benchmarks/results/")
    args = parser.parse_args()
    new_src = HERE.parent / "src"
    lines = [f"# old: {args.old_src}, new: this checkout; load {os.getloadavg()[0]:.2f}"]
    if args.modules:
        lines += [
            f"# import seconds per stage module, median of {args.rounds} alternating rounds",
            f"{'module':30s} {'old s':>7s} {'new s':>7s} {'ratio':>6s}",
        ]
    for module in args.modules:
        old, new = [], []
        for i in range(args.rounds):  # alternate which goes first
            pair = [(old, args.old_src), (new, new_src)]
            for times, src in pair if i % 2 == 0 else pair[::-1]:
                times.append(import_seconds(src, module))
        o, n = statistics.median(old), statistics.median(new)
        lines.append(f"{module:30s} {o:7.2f} {n:7.2f} {o / n:5.1f}x")
        print(lines[-1], flush=True)
    if args.run:
        lines += ["", f"# job seconds (Snakemake benchmark files), median of 3 alternating rounds, "
                      f"rerun on copies of {args.run}"]  # fmt: skip
        lines.append(f"{'job':30s} {'old s':>7s} {'new s':>7s} {'ratio':>6s}")
        runs: dict[str, list[dict[str, float]]] = {"old": [], "new": []}
        with tempfile.TemporaryDirectory() as scratch:
            for i in range(3):
                pair = [("old", args.old_src), ("new", new_src)]
                for name, src in pair if i % 2 == 0 else pair[::-1]:
                    runs[name].append(job_seconds(src, args.run, Path(scratch), args.jobs))
        for job in args.jobs:
            o = statistics.median(r[job] for r in runs["old"])
            n = statistics.median(r[job] for r in runs["new"])
            lines.append(f"{job:30s} {o:7.2f} {n:7.2f} {o / n:5.1f}x")
            print(lines[-1], flush=True)
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / args.out).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
