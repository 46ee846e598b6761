"""Per-leaf length and width from predicted masks: what edge refinement and flip TTA each add.

Takes the model of a finished demo run (``make demo``) and measures, side by side on the same
sheets, the intact-leaf length and width errors and the pooled IoU of four ways to turn the
network's output into a mask: the bare network (probabilities brought onto the sheet, threshold
0.5), with ``predict.tta`` (flip averaging), with ``predict.refine_edges``
(herbseg.measurement.refine), and
with both. Two collections:

* ``demo``: the demo's own 48 sheets (the model trained on 34 of them);
* ``heldout``: a fresh synthetic collection from another seed (24 sheets by default) that neither
  the model nor the choice of refinement settings has seen.

Leaves are matched as in ``herbseg.reporting.demo_check`` (true intact leaf → predicted
component whose centroid is nearest, within 5 mm). Run after ``make demo``:

    .venv/bin/python benchmarks/leaf_lengths.py      # ~6 min on 2 cores

Writes benchmarks/results/leaf_lengths.txt.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from _report import write_report

from herbseg.io.geometry import frame_to_grid, image_to_frame, plan
from herbseg.io.images import load_rgb, read_mask
from herbseg.measurement.refine import RefineSettings, band_px, refine_edges
from herbseg.measurement.traits import IntactRule, leaf_traits
from herbseg.model.infer import predict_proba
from herbseg.model.network import load_model
from herbseg.reporting.demo_check import match_leaves
from herbseg.synth.sheets import generate_collection

REPO = Path(__file__).resolve().parents[1]
Variant = tuple[str, bool, RefineSettings | None, float]  # name, TTA, refinement (None: off), thr
VARIANTS: tuple[Variant, ...] = (
    ("network", False, None, 0.5), ("tta", True, None, 0.5),
    ("refine", False, RefineSettings(), 0.5), ("tta+refine", True, RefineSettings(), 0.5),
)  # fmt: skip
# --sweep: the refinement's band (predict.refine_band) and reach (fixed) around the defaults,
# then the colour evidence cap and the threshold, with TTA, judged on the held-out collection.
SWEEP: tuple[Variant, ...] = tuple(
    (f"b{band:g} r{reach:g}", True, RefineSettings(band=band, reach=reach), 0.5)
    for band in (1.0, 1.5, 2.0) for reach in (1.0, 1.5, 2.0)
) + tuple(
    (f"b1.5 r1 e{ev:g} t{thr:g}", True, RefineSettings(band=1.5, evidence=ev), thr)
    for ev in (4.0, 6.0) for thr in (0.3, 0.4, 0.5) if (ev, thr) != (4.0, 0.5)
)  # fmt: skip


def measure(
    collection: Path,
    model: torch.nn.Module,
    frame: int,
    min_leaf_px: int,
    variants: tuple[Variant, ...] = VARIANTS,
) -> list[dict]:
    """One result row per variant for the sheets of ``collection`` (sheets/, masks/, truth)."""
    truth = pd.read_csv(collection / "truth.csv", dtype={"sheet_id": str}).set_index("sheet_id")
    true_leaves = pd.read_csv(collection / "truth_leaves.csv", dtype={"sheet_id": str})
    intact = true_leaves[true_leaves["intact"].astype(str).str.lower() == "true"]
    leaves: dict[str, list[pd.DataFrame]] = {v[0]: [] for v in variants}
    counts = {v[0]: np.zeros(2) for v in variants}
    for sid in truth.index:
        rgb = load_rgb(collection / "sheets" / f"{sid}.jpg")
        true_mask = read_mask(collection / "masks" / f"{sid}.png")
        h, w = rgb.shape[:2]
        geom = plan(w, h, frame, "squash")
        x = image_to_frame(rgb, geom)[None]
        grids = {tta: frame_to_grid(predict_proba(model, x, "cpu", tta=tta)[0], geom, w, h)
                 for tta in (False, True)}  # fmt: skip
        ratio = max(w / geom.box_w, h / geom.box_h)
        for name, tta, settings, thr in variants:
            mask = grids[tta] >= thr
            if settings is not None:
                mask, _ = refine_edges(grids[tta], rgb, band_px(settings, ratio), thr, settings)
            counts[name] += [(mask & true_mask).sum(), (mask | true_mask).sum()]
            table = leaf_traits(mask, float(truth.loc[sid, "px_per_mm"]), IntactRule(min_leaf_px))
            leaves[name].append(table.assign(sheet_id=sid))
    rows = []
    max_px = float(truth["px_per_mm"].median()) * 5
    for name, *_ in variants:
        pairs = match_leaves(pd.concat(leaves[name]), intact, max_px)
        rel_l = (pairs["length_mm"] - pairs["truth_length_mm"]) / pairs["truth_length_mm"]
        rel_w = (pairs["width_mm"] - pairs["truth_width_mm"]) / pairs["truth_width_mm"]
        rows.append({
            "variant": name,
            "matched": f"{len(pairs)}/{len(intact)}",
            "length_median_abs": rel_l.abs().median(),
            "length_median_signed": rel_l.median(),
            "width_median_abs": rel_w.abs().median(),
            "iou": counts[name][0] / counts[name][1],
            "by_shape": rel_l.groupby(pairs["truth_shape"]).median().to_dict()
            if "truth_shape" in pairs else {},
        })  # fmt: skip
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--demo", type=Path, default=REPO / "demo")
    ap.add_argument("--heldout-sheets", type=int, default=24)
    ap.add_argument("--heldout-seed", type=int, default=7)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument(
        "--frame",
        type=int,
        default=384,
        help="frame at prediction (config/demo.yaml's resize.size)",
    )
    ap.add_argument(
        "--model",
        type=Path,
        help="a trained model folder (default: the demo's results/train/model)",
    )
    ap.add_argument(
        "--sweep", action="store_true", help="band x reach with TTA, held-out collection only"
    )
    ap.add_argument(
        "--out", type=Path, default=REPO / "benchmarks" / "results" / "leaf_lengths.txt"
    )
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    cfg_frame, min_leaf_px = args.frame, 200  # config.yaml's min_leaf_px
    model_dir = args.model or args.demo / "results" / "train" / "model"
    model = load_model(model_dir, "cpu")
    heldout = args.demo / "heldout"  # inside the demo folder: ignored by git, removed with it
    if not (heldout / "truth.csv").exists():
        generate_collection(heldout, args.heldout_sheets, args.heldout_seed, 2000, 3000, 300, 2)
    lines = [
        f"intact-leaf length/width median relative error and pooled IoU, model {model_dir}, "
        f"frame {cfg_frame}, refinement defaults {RefineSettings()}",
        f"{'collection':<10} {'variant':<11} {'matched':>8} {'length':>7} {'(signed)':>9} "
        f"{'width':>7} {'IoU':>6}",
    ]
    runs = [("heldout", heldout, SWEEP)] if args.sweep else [
        ("demo", args.demo, VARIANTS), ("heldout", heldout, VARIANTS)]  # fmt: skip
    for name, collection, variants in runs:
        for r in measure(collection, model, cfg_frame, min_leaf_px, variants):
            lines.append(
                f"{name:<10} {r['variant']:<11} {r['matched']:>8} {r['length_median_abs']:>7.2%} "
                f"{r['length_median_signed']:>+9.2%} {r['width_median_abs']:>7.2%} {r['iou']:>6.3f}"
            )
            print(lines[-1], flush=True)
            if r["by_shape"]:
                lines.append(
                    f"{'':<22} signed length by blade shape: "
                    + ", ".join(f"{k} {v:+.1%}" for k, v in sorted(r["by_shape"].items()))
                )
    lines.append(f"wall {time.perf_counter() - t0:.0f} s")
    write_report(lines, args.out)


if __name__ == "__main__":
    main()
