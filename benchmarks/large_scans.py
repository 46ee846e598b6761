"""Large scans through the real-sheet recipe: masks at full size against masks at a bounded size.

Why: herbaria scan at 300–600 dpi, 24–70 MP a sheet, while every real sheet in ``../shared`` is at
most 1400×2100. The recipe's predict path refines each mask's outline by colour, adds the tiles'
thin parts and clears the table and glued pictures on the mask's own grid, so its cost grows
with the scan, not with the network (whose frame and tiles are fixed). ``predict.long_side``
bounds that grid. This draws synthetic whole-plant sheets at a herbarium scan's size (exact
masks and plant areas), runs ``herbseg predict`` with the recipe's config on them once per
``long_side``, one process each (start-up included, as a user runs it), and reports per run: wall
time per sheet, peak memory (GNU ``time``), pooled IoU against the exact masks at the sheets' own
size (a bounded mask is brought back up by nearest neighbour), and the plant area each run
measures against the truth (the ruler read by the run itself).

``--config`` and ``--mask-class leaf`` run another config and model on the same sheets, scored
against their leaf masks; ``--demo-sheets`` draws the demo's leaf sheets at the scan's size
instead (for the default config and the demo's leaf model).

Run: .venv/bin/python benchmarks/large_scans.py --model results/violaceae/recipe/model
Writes ``<out>/results.md``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from PIL import Image

from herbseg.io.images import read_mask
from herbseg.measurement.metrics import confusion, scores
from herbseg.synth.plant import plant_collection_once
from herbseg.synth.sheets import generate_collection

REPO = Path(__file__).resolve().parents[1]
CONFIGS = ("config/config.yaml", "config/violaceae.yaml", "config/violaceae_recipe.yaml")


def run_predict(
    sheets: list[Path],
    model: str,
    long_side: int | None,
    out: Path,
    threads: int,
    base: tuple[str, ...] = CONFIGS,
) -> dict:
    """``herbseg predict`` with the configs ``base`` (the recipe's) and ``predict.long_side``,
    timed by GNU time."""
    extra = out.parent / f"long_side_{long_side}.yaml"
    extra.write_text(yaml.safe_dump({"predict": {"long_side": long_side}}))
    configs = [a for c in (*base, str(extra)) for a in ("--config", c)]
    cmd = ["/usr/bin/time", "-f", "%e %M", sys.executable, "-m", "herbseg.cli", "predict",
           *map(str, sheets), "--model", model, *configs, "--out", str(out),
           "--threads", str(threads)]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, check=True)
    wall, rss_kb = done.stderr.strip().splitlines()[-1].split()
    return {"wall_s": float(wall), "peak_gb": int(rss_kb) / 2**20}


def score(out: Path, truth_dir: Path, truth: pd.DataFrame, mask_class: str = "plant") -> dict:
    """Pooled IoU against the exact masks at the sheets' own size, and the area the masks mark
    (the plant's or the leaves', as ``mask_class``; mm², the run's own ruler reading) against
    the true one."""
    table = pd.read_csv(out / "leaf_area.csv", dtype={"sheet_id": str})
    true_mm2 = dict(zip(truth["sheet_id"], truth[f"{mask_class}_area_mm2"]))
    counts = np.zeros(4, dtype=np.int64)  # tp, fp, fn, tn pooled over the sheets
    area_err = []
    for row in table.itertuples():
        t = read_mask(truth_dir / "masks" / f"{row.sheet_id}.png")
        p = read_mask(row.predicted_mask)
        if p.shape != t.shape:
            p = np.asarray(Image.fromarray(p).resize(t.shape[::-1], Image.Resampling.NEAREST))
        counts += confusion(p, t)
        true = true_mm2[row.sheet_id]
        if true > 0:  # a sheet with no leaf blade has no leaf-area error to give
            area_err.append(100 * (row.leaf_area_mm2 - true) / true)
    return {
        "iou": scores(*map(int, counts))["iou"],
        "area_err_median_pct": float(np.median(np.abs(area_err))),
        "area_err_worst_pct": float(max(area_err, key=abs)),
        "sheets": len(table),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="the real-sheet model folder")
    ap.add_argument("--sheets", type=int, default=6)
    ap.add_argument("--size", type=int, nargs=2, default=[4000, 6000], metavar=("W", "H"))
    ap.add_argument("--dpi", type=float, default=360.0)
    ap.add_argument("--seed", type=int, default=7070)
    ap.add_argument("--long-sides", type=int, nargs="+", default=[0, 3000],
                    help="predict.long_side values (0: each sheet's own size)")  # fmt: skip
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--config", nargs="+", default=list(CONFIGS),
                    help="config files, in order (default: the real-sheet recipe's)")  # fmt: skip
    ap.add_argument("--mask-class", choices=("plant", "leaf"), default="plant",
                    help="what the drawn truth marks: the model's mask class")  # fmt: skip
    ap.add_argument("--demo-sheets", action="store_true",
                    help="draw the demo's leaf sheets instead of whole plants")  # fmt: skip
    ap.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "large_scans")
    args = ap.parse_args()
    collection = args.out / "collection"
    w, h = args.size
    t0 = time.perf_counter()
    if args.demo_sheets:  # the demo's leaf sheets, drawn at the scan's size
        args.mask_class = "leaf"
        if not (collection / "truth.csv").exists():
            generate_collection(collection, args.sheets, args.seed, w, h, args.dpi,
                                workers=args.threads)  # fmt: skip
    else:
        plant_collection_once(collection, args.sheets, args.seed, w, h, args.dpi,
                              workers=args.threads, mask_class=args.mask_class)  # fmt: skip
    print(f"{args.sheets} sheets of {w}×{h} drawn in {time.perf_counter() - t0:.0f} s", flush=True)
    truth = pd.read_csv(collection / "truth.csv", dtype={"sheet_id": str})
    sheets = sorted((collection / "sheets").glob("*.jpg"))
    rows = []
    for ls in args.long_sides:
        out = args.out / f"long_side_{ls}"
        timing = run_predict(sheets, args.model, ls or None, out, args.threads, tuple(args.config))
        rows.append({"long_side": ls or "own size", **timing,
                     "s_per_sheet": timing["wall_s"] / len(sheets),
                     **score(out, collection, truth, args.mask_class)})  # fmt: skip
        print(rows[-1], flush=True)
    table = pd.DataFrame(rows)
    base = table["s_per_sheet"].iloc[0]
    table["speed_vs_first"] = base / table["s_per_sheet"]
    md = [
        f"# Large scans ({args.sheets} synthetic "
        f"{'demo-style leaf' if args.demo_sheets else 'whole-plant'} sheets, "
        f"{args.mask_class} masks, "
        f"{w}×{h} at {args.dpi:g} dpi, configs {' '.join(args.config)}, "
        f"seed {args.seed}; model {args.model}; {args.threads} threads)",
        "",
        table.to_markdown(index=False, floatfmt=".4g"),
        "",
        "wall_s: one `herbseg predict` process for all sheets, start-up included; peak_gb: its "
        "peak resident memory; iou: pooled against the exact masks at the sheets' own size; "
        "area_err: the measured area of what the masks mark (the run's own ruler reading) "
        "against the true one.",
    ]
    (args.out / "results.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
