"""How long Snakemake takes to plan a collection: the sharded workflow against one job per sheet.

A manifest-only fixture (no images) stands in for an ingested collection: ``results/ingest/``
holds ``manifest.csv``, ``problems.csv``, ``shards.csv`` and ``shards/<shard>.csv`` written with
herbseg's own ``assign_shards`` and ``write_shards``, and the ``sheets``/``annotations`` folders
exist but are older than those files, so the ingest checkpoint is up to date and the dry run's
plan is exactly a first run after ingest: resize, predict and measure per shard, split, train and
evaluate for the annotated shards, and the aggregation.

The naive design (``benchmarks/naive/Snakefile``: the sheet list read at parse time, resize,
predict and measure per sheet, one aggregation) is planned in the same run at a smaller size.

Run: .venv/bin/python benchmarks/dryrun_scale.py [--sheets 1000000] [--naive-sheets 30000]
Prints a table (wall time, peak RSS, jobs planned) and writes it to
benchmarks/results/dryrun_scale.txt.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml

from herbseg.io.sheets import MANIFEST_COLUMNS
from herbseg.plan import job_stats
from herbseg.stages.ingest import PROBLEM_COLUMNS, assign_shards, write_shards

REPO = Path(__file__).resolve().parents[1]
NAIVE_SNAKEFILE = REPO / "benchmarks" / "naive" / "Snakefile"
OUT = REPO / "benchmarks" / "results" / "dryrun_scale.txt"
# Old enough that every fixture file is newer: Snakemake then sees no reason to rerun ingest.
OLD_MTIME = time.time() - 30 * 24 * 3600


@dataclass
class DryRun:
    """One measured ``snakemake -n``."""

    design: str
    sheets: int
    shards: int
    jobs: dict[str, int]
    wall_s: float
    peak_rss_mb: float

    @property
    def total_jobs(self) -> int:
        return sum(self.jobs.values())


def synthetic_manifest(n_sheets: int, n_annotated: int) -> pd.DataFrame:
    """A manifest as ingest writes it, for sheets that do not exist (the plan never opens them).

    The first ``n_annotated`` sheets carry a mask, so the plan includes training; paths are
    spread over folders of 5,000 like a real scan archive.
    """
    idx = pd.RangeIndex(n_sheets)
    ids = "s" + pd.Series(idx).astype(str).str.zfill(7)
    boxes = "sheets/box" + (pd.Series(idx) // 5000).astype(str).str.zfill(4) + "/"
    has_mask = pd.Series(idx < n_annotated)
    frame = pd.DataFrame(
        {
            "sheet_id": ids,
            "path": boxes + ids + ".jpg",
            "bytes": 6_000_000,
            "width": 4000,
            "height": 6000,
            "mode": "RGB",
            "dpi_x": 600.0,
            "dpi_y": 600.0,
            "has_mask": has_mask,
            "status": "ok",
            "error": "",
            "sha256": pd.Series(idx).map("{:064x}".format),
            "mask_path": ("masks/" + ids + "_mask.png").where(has_mask, ""),
            "shard": "",
        }
    )
    return frame[MANIFEST_COLUMNS]


def build_fixture(work: Path, n_sheets: int, shard_size: int, n_annotated: int) -> dict:
    """Write the ingest outputs of a synthetic collection into ``work``; returns the config.

    Returns the seconds herbseg's ``assign_shards`` took too, since at a million sheets that is
    a real cost of every ingest.
    """
    for folder, name in (("sheets", "s.jpg"), ("masks", "s.png")):
        (work / folder).mkdir(parents=True, exist_ok=True)
        (work / folder / name).touch()  # the start-up checks want a sheet and a matching mask
        os.utime(work / folder, (OLD_MTIME, OLD_MTIME))
    ingest_dir = work / "results" / "ingest"
    manifest = synthetic_manifest(n_sheets, n_annotated)
    t0 = time.perf_counter()
    manifest["shard"] = assign_shards(manifest, {}, shard_size)
    assign_s = time.perf_counter() - t0
    summary, _ = write_shards(manifest, ingest_dir / "shards")
    manifest.to_csv(ingest_dir / "manifest.csv", index=False)
    pd.DataFrame(columns=PROBLEM_COLUMNS).to_csv(ingest_dir / "problems.csv", index=False)
    summary.to_csv(ingest_dir / "shards.csv", index=False)
    config = {
        "sheets": "sheets",
        "annotations": "masks",
        "results": "results",
        "ingest": {"shard_size": shard_size},
    }
    (work / "config.yaml").write_text(yaml.safe_dump(config))
    return {"assign_s": assign_s, "shards": len(summary)}


def build_naive_fixture(work: Path, n_sheets: int) -> None:
    """The naive design's inputs: a manifest (read at parse time) and a trained model."""
    (work / "results" / "ingest").mkdir(parents=True, exist_ok=True)
    synthetic_manifest(n_sheets, 0).to_csv(work / "results/ingest/manifest.csv", index=False)
    (work / "results" / "train" / "model").mkdir(parents=True, exist_ok=True)
    (work / "config.yaml").write_text(yaml.safe_dump({"manifest": "results/ingest/manifest.csv"}))


def timed_dry_run(snakefile: Path, work: Path) -> tuple[dict[str, int], float, float, str]:
    """``snakemake -n`` under GNU time: planned jobs, wall seconds, peak RSS in MB, output.

    Rule details are not printed (``--quiet rules``): printing a million lines would measure the
    terminal, not the planning.
    """
    cmd = [
        "/usr/bin/time", "-v", sys.executable, "-m", "snakemake", "-n", "--quiet", "rules",
        "--snakefile", str(snakefile), "--directory", str(work),
        "--configfile", str(work / "config.yaml"), "--cores", "2",
    ]  # fmt: skip
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    wall = time.perf_counter() - t0
    text = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise RuntimeError(f"dry run failed ({proc.returncode}):\n{text[-4000:]}")
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
    return job_stats(text), wall, int(rss.group(1)) / 1024 if rss else float("nan"), text


def table(runs: list[DryRun]) -> str:
    lines = [
        f"{'design':<28} {'sheets':>9} {'shards':>7} {'jobs':>7} {'wall s':>8} {'peak MB':>8} "
        f"{'ms/job':>7}  jobs by rule"
    ]
    for r in runs:
        by_rule = ", ".join(f"{k} {v}" for k, v in sorted(r.jobs.items()))
        lines.append(
            f"{r.design:<28} {r.sheets:>9,} {r.shards:>7,} {r.total_jobs:>7,} {r.wall_s:>8.1f} "
            f"{r.peak_rss_mb:>8.0f} {1000 * r.wall_s / max(r.total_jobs, 1):>7.2f}  {by_rule}"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sheets", type=int, default=1_000_000)
    ap.add_argument("--shard-size", type=int, default=1000)
    ap.add_argument("--annotated", type=int, default=2000, help="sheets with masks (a-shards)")
    ap.add_argument("--naive-sheets", type=int, default=30_000)
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--keep", action="store_true", help="keep the fixtures (printed)")
    args = ap.parse_args()

    root = Path(tempfile.mkdtemp(prefix="herbseg_dryrun_"))
    runs: list[DryRun] = []
    notes: list[str] = []
    try:
        sharded = root / "sharded"
        t0 = time.perf_counter()
        fixture = build_fixture(sharded, args.sheets, args.shard_size, args.annotated)
        notes.append(
            f"fixture of {args.sheets:,} sheets built in {time.perf_counter() - t0:.1f} s "
            f"(of which herbseg.stages.ingest.assign_shards {fixture['assign_s']:.1f} s)"
        )
        jobs, wall, rss, text = timed_dry_run(REPO / "Snakefile", sharded)
        if "ingest" in jobs:
            raise RuntimeError("the fixture should leave ingest up to date:\n" + text[-3000:])
        runs.append(DryRun("sharded (herbseg Snakefile)", args.sheets, fixture["shards"], jobs,
                           wall, rss))  # fmt: skip

        naive = root / "naive"
        build_naive_fixture(naive, args.naive_sheets)
        jobs, wall, rss, _ = timed_dry_run(NAIVE_SNAKEFILE, naive)
        runs.append(DryRun("naive (one job per sheet)", args.naive_sheets, 0, jobs, wall, rss))
    finally:
        if args.keep:
            notes.append(f"fixtures kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)

    load = os.getloadavg()
    report = "\n".join(
        [
            "snakemake -n --quiet rules (snakemake "
            + subprocess.run(
                [sys.executable, "-m", "snakemake", "--version"], capture_output=True, text=True
            ).stdout.strip()
            + f", {os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f})",
            table(runs),
            *notes,
        ]
    )
    print(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report + "\n")


if __name__ == "__main__":
    main()
