"""After `make demo`: the demo's results as a collection would publish them (issue 16's floors).

1. `demo/results/dwc/` read back with a third-party reader (python-dwca-reader) and joined to the
   demo's input archive (`demo/dwca/`): one MeasurementOrFact row per (occurrence, measurement),
   every occurrence one of the input's, leaf area and leaf count equal to `leaf_area.csv` summed
   over each occurrence's sheets.
2. `herbseg predict` on one demo sheet, outside the workflow, against the workflow's row.

Run: .venv/bin/python benchmarks/demo_specimens.py [--demo demo] [--sheet synth_0001]
     (writes benchmarks/results/demo_specimens.txt)
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from dwca.read import DwCAReader

REPO = Path(__file__).resolve().parents[1]


def rows(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(core rows, extension rows with their coreid), term names shortened."""
    core, ext_rows = [], []
    with DwCAReader(str(folder)) as archive:
        for row in archive:
            core.append({"id": row.id, **{k.rsplit("/", 1)[-1]: v for k, v in row.data.items()}})
            ext_rows += [{"coreid": e.core_id, "rowtype": e.rowtype,
                          **{k.rsplit("/", 1)[-1]: v for k, v in e.data.items()}}
                         for e in row.extensions]  # fmt: skip
    return pd.DataFrame(core), pd.DataFrame(ext_rows)


def archive_check(demo: Path) -> list[str]:
    area = pd.read_csv(demo / "results/leaf_area.csv", dtype=str, keep_default_na=False)
    source, media = rows(demo / "dwca")
    core, facts = rows(demo / "results/dwc")
    ok = area[area["status"] == "ok"]
    link = "gbifID"
    want = ok.groupby(link)["leaf_area_mm2"].apply(lambda v: v.astype(float).sum())
    got = facts[facts["measurementType"] == "leaf area"].set_index("coreid")["measurementValue"]
    counts = ok.groupby(link)["n_leaves"].apply(lambda v: v.astype(int).sum())
    got_n = facts[facts["measurementType"] == "leaf count"].set_index("coreid")["measurementValue"]
    joined = core.merge(source, on="id", suffixes=("", "_in"))
    two = int((ok.groupby(link)["sheet_id"].count() == 2).sum())
    same_ids = sorted(got.index) == sorted(want.index)
    ratio = got[want.index].astype(float) / want.values
    area_equal = same_ids and bool(np.allclose(ratio, 1, rtol=0, atol=1e-9))
    counts_equal = bool((got_n[counts.index].astype(int).values == counts.values).all())
    catalogue_equal = bool((joined["catalogNumber"] == joined["catalogNumber_in"]).all())
    unique = not facts.duplicated(["coreid", "measurementType"]).any()
    return [
        f"input archive: {len(source)} occurrences, {len(media)} multimedia rows; "
        f"leaf_area.csv: {len(area)} sheets, {len(ok)} measured, {two} specimens on two sheets",
        f"written archive: {len(core)} occurrences, {len(facts)} MeasurementOrFact rows, "
        f"{facts['measurementType'].nunique()} measurement types",
        f"occurrences that are the input's: {len(joined)} of {len(core)}; catalogue numbers "
        f"equal: {catalogue_equal}",
        f"one row per (occurrence, measurement): {unique}",
        f"leaf area equal to leaf_area.csv summed per occurrence: {area_equal} (largest relative "
        f"difference {float((ratio - 1).abs().max()):.1e})",
        f"leaf counts equal: {counts_equal}",
    ]


def cli_check(demo: Path, sheet: str) -> list[str]:
    flow = pd.read_csv(demo / "results/leaf_area.csv").set_index("sheet_id").loc[sheet]
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run(
            [sys.executable, "-m", "herbseg.cli", "predict", str(demo / "sheets" / f"{sheet}.jpg"),
             "--model", str(demo / "results/train/model"), "--config", "config/config.yaml",
             "--config", "config/demo.yaml", "--out", str(Path(tmp) / "out")],
            capture_output=True, text=True, cwd=REPO,
        )  # fmt: skip
        if proc.returncode:
            return [f"herbseg predict failed: {proc.stderr[-2000:]}"]
        mine = pd.read_csv(Path(tmp) / "out/leaf_area.csv").set_index("sheet_id").loc[sheet]
    return [
        f"herbseg predict {sheet}: leaf area {mine['leaf_area_mm2']:.4f} mm², workflow "
        f"{flow['leaf_area_mm2']:.4f} mm² (leaf px {mine['leaf_px']} vs {flow['leaf_px']}, "
        f"{mine['n_leaves']} vs {flow['n_leaves']} leaves, scale {mine['scale_source']} "
        f"{mine['px_per_mm']:.4f} vs {flow['scale_source']} {flow['px_per_mm']:.4f} px/mm)"
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--demo", type=Path, default=REPO / "demo")
    ap.add_argument("--sheet", default="synth_0001")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks/results/demo_specimens.txt")
    args = ap.parse_args()
    lines = archive_check(args.demo) + cli_check(args.demo, args.sheet)
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
