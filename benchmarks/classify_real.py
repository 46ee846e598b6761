"""The intact-leaf classifier on the 12 real LeafMachine2 sheets (no truth): counts and galleries.

There is no trained segmentation network in this repository's reach, so the sheets are segmented
by the torch-free colour baseline (``baseline.method: otsu``, no training data), and every
component is scored by the classifier ``benchmarks/classify.py`` trained on synthetic sheets
(``--model``) and by the rule. Per sheet: components, kept by each; a contact sheet of the kept and
the rejected leaves of every sheet (``benchmarks/results/classify_real_<sheet>.png``) is what a
person checks by eye (BENCHMARKS.md, "Intact-leaf classifier").

    .venv/bin/python benchmarks/classify_real.py --model /tmp/herbseg_classify_bench/model_mask_size

Writes benchmarks/results/classify_real.txt and the PNGs.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from _report import write_report

from herbseg.io.images import load_rgb, write_mask
from herbseg.model.leaf_classifier import load
from herbseg.reporting.leaf_gallery import gallery_png
from herbseg.stages.baseline import BaselineSettings, segment
from herbseg.stages.classify import ClassifySettings, classify_shard
from herbseg.stages.measure import MeasureSettings, measure_shard

HERE = Path(__file__).resolve().parent
SHARED = Path(os.environ.get("HERBSEG_SHARED", HERE.parent.parent / "shared"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", type=Path, required=True)
    ap.add_argument("--sheets", type=Path, default=SHARED / "data" / "leafmachine2_demo")
    ap.add_argument("--work", type=Path, default=Path("/tmp/herbseg_classify_real"))
    ap.add_argument("--out", type=Path, default=HERE / "results" / "classify_real.txt")
    args = ap.parse_args()
    torch.set_num_threads(1)
    net, card = load(args.model)
    paths = sorted(args.sheets.glob("*.jpg"), key=lambda p: int(p.stem.rsplit("_", 1)[-1]))
    (args.work / "masks").mkdir(parents=True, exist_ok=True)
    rows, preds = [], []
    for p in paths:
        rgb = load_rgb(p)
        mask = segment(rgb, BaselineSettings(method="otsu"))
        mask_path = args.work / "masks" / f"{p.stem}.png"
        write_mask(mask_path, mask)
        h, w = mask.shape
        rows.append(
            {
                "sheet_id": p.stem,
                "path": str(p),
                "status": "ok",
                "error": "",
                "width": w,
                "height": h,
            }  # fmt: skip
        )
        preds.append({"sheet_id": p.stem, "status": "ok", "error": "", "mask_path": mask_path})
    rows, preds = pd.DataFrame(rows), pd.DataFrame(preds)
    measure = MeasureSettings(ruler=False)
    verdicts = classify_shard(rows, preds, net, card, measure, ClassifySettings(), log=print)
    _, leaves = measure_shard(rows, preds, settings=measure, verdicts=verdicts, log=print)
    lines = [
        "# Intact-leaf classifier on the 12 LeafMachine2 sheets (benchmarks/classify_real.py)",
        f"masks: colour baseline (otsu); classifier: {args.model} ({card.arch}, "
        f"{'+'.join(card.inputs)}, {card.size} px)",
        "",
        "| sheet | components | kept by classifier | kept by rule |",
        "|---|---|---|---|",
    ]
    for sid, part in leaves.groupby("sheet_id", sort=False):
        lines.append(
            f"| {sid} | {len(part)} | {int(part['intact'].sum())} | "
            f"{int(part['intact_rule'].sum())} |"
        )
        gallery_png(
            part.sort_values("intact", ascending=False),
            rows,
            HERE / "results" / f"classify_real_{sid}.png",
            title=f"{sid}: green kept, red rejected by the classifier",
            max_tiles=40,
        )
    lines.append(
        f"total: {len(leaves)} components, {int(leaves['intact'].sum())} kept by the classifier, "
        f"{int(leaves['intact_rule'].sum())} by the rule; mean intact_prob "
        f"{np.nanmean(leaves['intact_prob']):.2f}"
    )
    write_report(lines, args.out)


if __name__ == "__main__":
    main()
