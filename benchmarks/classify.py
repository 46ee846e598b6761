"""Intact-leaf extraction: the classify stage's CNN against the area/solidity rule, same leaves.

Two synthetic collections with the failure modes the rule cannot see switched on
(``synth.damage``): one to train the classifier (seed 1515), one held out (seed 2115) that neither
the classifier nor any threshold has seen. Leaf choice is judged on the components of the
generator's exact masks, so it is not confounded with segmentation error (the workflow runs the
same functions on predicted masks). Per held-out sheet:

* every component is matched one-to-one to the true leaves, centroid within 25 sheet px
  (``classify.match_one_to_one``); a kept component is a true positive when its match is a true
  intact leaf; recall is over all true intact leaves (a missed one counts);
* the classifier's and the rule's verdicts are scored on exactly those components;
* length and width of the kept leaves (px/mm from the truth, to isolate leaf choice) against the
  true blade of their match (damaged blades are compared with the undamaged outline, so a kept
  fragment counts as the error it is);
* a threshold chosen on a third collection (seed 3115, ``--n-val`` sheets), where it gives the
  best F1, and the held-out scores at it (never a threshold chosen on the held-out sheets);
* the time of ``classify_shard`` next to ``measure_shard`` (its default ruler search included) on
  the same sheets, in one process, on whatever load the machine has (reported).

    .venv/bin/python benchmarks/classify.py --inputs mask size   # ~55 min (48 of them training)
    .venv/bin/python benchmarks/classify.py --inputs mask size --model DIR   # ~5 min, no training

Writes benchmarks/results/classify.txt and benchmarks/results/classify_*.png.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
from _report import write_report

from herbseg.model.leaf_classifier import ClassifierCard, card_for, fit, init_source, load, save
from herbseg.reporting.leaf_gallery import gallery_png
from herbseg.stages.classify import ClassifySettings, classify_shard, match_one_to_one, training_set
from herbseg.stages.measure import MeasureSettings, measure_shard
from herbseg.synth.sheets import generate_collection

HERE = Path(__file__).resolve().parent
W, H, DPI = 1000, 1500, 150.0


def collection(folder: Path, n: int, seed: int, damage: float, workers: int):
    """Generate (once) and describe a collection as the stages expect it."""
    if not (folder / "truth_leaves.csv").exists():
        generate_collection(folder, n, seed, W, H, DPI, workers=workers, damage=damage)
    truth = pd.read_csv(folder / "truth.csv", dtype={"sheet_id": str})
    leaves = pd.read_csv(folder / "truth_leaves.csv", dtype={"sheet_id": str})
    rows = pd.DataFrame(
        {
            "sheet_id": truth["sheet_id"],
            "path": [str(folder / "sheets" / f"{s}.jpg") for s in truth["sheet_id"]],
            "status": "ok",
            "error": "",
            "width": W,
            "height": H,
            "dpi_x": DPI,
            "dpi_y": DPI,
        }
    )
    preds = pd.DataFrame(
        {
            "sheet_id": truth["sheet_id"],
            "status": "ok",
            "error": "",
            "mask_path": [str(folder / "masks" / f"{s}.png") for s in truth["sheet_id"]],
        }
    )
    scale = dict(zip(truth["sheet_id"], truth["px_per_mm"], strict=True))
    return rows, preds, leaves, scale


def score(leaves: pd.DataFrame, truth: pd.DataFrame, column: str, max_px: float) -> dict:
    """Precision, recall, F1 of ``column`` (bool per component) against the true intact leaves,
    and length/width errors of the kept components."""
    tp = kept = 0
    rel_l, rel_w = [], []
    for sid, t in truth.groupby("sheet_id"):
        p = leaves[leaves["sheet_id"] == sid]
        pairs = match_one_to_one(
            p[["centroid_x", "centroid_y"]].to_numpy(float),
            t[["centroid_x", "centroid_y"]].to_numpy(float),
            max_px,
        )
        intact_true = t["intact"].astype(str).str.lower().eq("true").to_numpy()
        flag = p[column].astype(bool).to_numpy()
        kept += int(flag.sum())
        for i, j in pairs:
            if flag[i]:
                tp += int(intact_true[j])
                rel_l.append(abs(p["length_mm"].iloc[i] / t["length_mm"].iloc[j] - 1))
                rel_w.append(abs(p["width_mm"].iloc[i] / t["width_mm"].iloc[j] - 1))
    n_true = int(truth["intact"].astype(str).str.lower().eq("true").sum())
    prec, rec = tp / max(kept, 1), tp / max(n_true, 1)
    return {
        "precision": prec,
        "recall": rec,
        "f1": 2 * prec * rec / max(prec + rec, 1e-9),
        "kept": kept,
        "true_intact": n_true,
        "length_err": float(np.median(rel_l)) if rel_l else float("nan"),
        "width_err": float(np.median(rel_w)) if rel_w else float("nan"),
        "n_sized": len(rel_l),
    }


def by_reason(leaves: pd.DataFrame, truth: pd.DataFrame, max_px: float) -> pd.DataFrame:
    """Share of each true reason's leaves kept by the classifier and by the rule."""
    rows = []
    for sid, t in truth.groupby("sheet_id"):
        p = leaves[leaves["sheet_id"] == sid]
        pairs = match_one_to_one(
            p[["centroid_x", "centroid_y"]].to_numpy(float),
            t[["centroid_x", "centroid_y"]].to_numpy(float),
            max_px,
        )
        for i, j in pairs:
            rows.append(
                {
                    "reason": t["reason"].iloc[j].split("+")[-1],
                    "classifier": bool(p["intact"].iloc[i]),
                    "rule": bool(p["intact_rule"].iloc[i]),
                }
            )
    table = pd.DataFrame(rows)
    return table.groupby("reason").agg(
        n=("rule", "size"), kept_classifier=("classifier", "mean"), kept_rule=("rule", "mean")
    )


def leaves_at_zero(net, card, coll, measure: MeasureSettings) -> pd.DataFrame:
    """Measured leaves with every classifier verdict "intact" (threshold 0): ``intact`` is then
    exactly the rule's hard limits (edge, size), and ``intact_prob`` the classifier's score."""
    rows, preds, _, scale = coll
    zero = ClassifySettings(threshold=0.0)
    verdicts = classify_shard(rows, preds, net, card, measure, zero, log=lambda m: None)
    _, leaves = measure_shard(
        rows, preds, scale_table=scale, settings=measure, verdicts=verdicts, log=lambda m: None
    )
    return leaves


def at_threshold(leaves0: pd.DataFrame, t: float) -> pd.DataFrame:
    """The verdicts measure would give at threshold ``t`` (``apply_verdicts``: score and limits)."""
    return leaves0.assign(intact=leaves0["intact"].astype(bool) & (leaves0["intact_prob"] >= t))


def validation_threshold(leaves0: pd.DataFrame, truth: pd.DataFrame) -> tuple[float, float]:
    """The threshold (0.05 steps) with the best F1 on the validation collection, the one nearest
    0.5 among equals; and that F1."""
    grid = np.round(np.arange(0.05, 0.951, 0.05), 2)
    f1 = np.array([score(at_threshold(leaves0, t), truth, "intact", 25)["f1"] for t in grid])
    best = grid[np.isclose(f1, f1.max())]
    t = float(best[np.argmin(np.abs(best - 0.5))])
    return t, float(f1.max())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/herbseg_classify_bench"))
    ap.add_argument("--n-train", type=int, default=300)
    ap.add_argument("--n-test", type=int, default=40)
    ap.add_argument("--damage", type=float, default=0.3)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--size", type=int, default=96)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--arch", default="efficientnet_lite0")
    ap.add_argument("--inputs", nargs="+", action="append", default=None)
    ap.add_argument("--n-val", type=int, default=40)
    ap.add_argument(
        "--model", type=Path, default=None, help="score this saved classifier, no training"
    )
    ap.add_argument("--out", type=Path, default=HERE / "results" / "classify.txt")
    args = ap.parse_args()
    variants = args.inputs or [["mask", "size"], ["mask", "size", "rgb"]]
    if args.model:  # a saved classifier has its own inputs: score it once
        variants = variants[:1]
    t0 = time.perf_counter()
    train = collection(args.work / "train", args.n_train, 1515, args.damage, 2)
    test = collection(args.work / "heldout", args.n_test, 2115, args.damage, 2)
    val = collection(args.work / "val", args.n_val, 3115, args.damage, 2) if args.n_val else None
    gen_s = time.perf_counter() - t0
    measure = MeasureSettings()
    settings = ClassifySettings()
    lines = [
        "# Intact-leaf classifier vs the rule (benchmarks/classify.py)",
        f"collections: train {args.n_train} sheets (seed 1515), held-out {args.n_test} "
        f"(seed 2115), {W}x{H} px at {DPI:.0f} dpi, damage {args.damage}; generated in "
        f"{gen_s:.0f} s",
        (
            f"classifier: {args.model} as saved (its card below)"
            if args.model
            else f"classifier: {args.arch}, {args.size} px crops, {args.epochs} epochs at lr "
            f"{args.lr}, initialised from {init_source(args.arch)}"
        ),
        f"load at start: {os.getloadavg()[0]:.1f} (1-min average, 2 cores)",
        "",
    ]
    rows, preds, truth, scale = test
    plain = None
    for inputs in variants:
        if args.model:
            net, card = load(args.model)
        else:
            card = ClassifierCard(arch=args.arch, inputs=tuple(inputs), size=args.size)
            x, y, _ = training_set(
                train[0],
                train[1],
                measure,
                card,
                settings,
                truth_leaves=train[2],
                log=lambda m: None,
            )
            net, history = fit(x, y, arch=args.arch, epochs=args.epochs, lr=args.lr, log=print)
            card = card_for(inputs, args.size, args.arch, y, history, {"synthetic truth": len(y)})
            save(net, card, args.work / f"model_{'_'.join(inputs)}")
        t = time.perf_counter()
        verdicts = classify_shard(rows, preds, net, card, measure, settings, log=lambda m: None)
        classify_s = time.perf_counter() - t
        _, leaves = measure_shard(
            rows, preds, scale_table=scale, settings=measure, verdicts=verdicts, log=lambda m: None
        )
        cls, rule = score(leaves, truth, "intact", 25), score(leaves, truth, "intact_rule", 25)
        lines += [
            f"## {card.arch}, {card.size} px crops of {'+'.join(card.inputs)}, from {card.init}: "
            f"{card.n_train} training crops ({card.n_intact} intact), {card.epochs} epochs, "
            f"trained in {card.seconds:.0f} s",
            "| verdict | precision | recall | F1 | kept | median length err | median width err |",
            "|---|---|---|---|---|---|---|",
        ]
        for name, s in (("classifier", cls), ("rule", rule)):
            lines.append(
                f"| {name} | {s['precision']:.3f} | {s['recall']:.3f} | {s['f1']:.3f} | "
                f"{s['kept']} of {s['true_intact']} true intact | {100 * s['length_err']:.2f} % | "
                f"{100 * s['width_err']:.2f} % |"
            )
        lines += ["", "kept share per true reason (last reason when several):", ""]
        lines += by_reason(leaves, truth, 25).round(3).to_string().splitlines()
        lines.append(f"classify time: {classify_s / len(rows):.3f} s/sheet")
        lines.append("")
        if val is not None:
            t, val_f1 = validation_threshold(leaves_at_zero(net, card, val, measure), val[2])
            tuned = at_threshold(leaves_at_zero(net, card, test, measure), t)
            s = score(tuned, truth, "intact", 25)
            lines += [
                f"threshold chosen on the validation collection ({args.n_val} sheets, seed 3115; "
                f"F1 there {val_f1:.3f}): {t:.2f}; on the held-out sheets at {t:.2f}:",
                f"| classifier at {t:.2f} | {s['precision']:.3f} | {s['recall']:.3f} | "
                f"{s['f1']:.3f} | {s['kept']} of {s['true_intact']} true intact | "
                f"{100 * s['length_err']:.2f} % | {100 * s['width_err']:.2f} % |",
                "",
            ]
        if plain is None:
            plain = (net, card, verdicts, leaves, classify_s)
    net, card, verdicts, leaves, classify_s = plain
    # side by side, same process: measure as the workflow runs it (ruler search) vs classify
    t = time.perf_counter()
    measure_shard(rows, preds, settings=measure, log=lambda m: None)
    measure_s = time.perf_counter() - t
    t = time.perf_counter()
    classify_shard(rows, preds, net, card, measure, settings, log=lambda m: None)
    classify_s = time.perf_counter() - t
    lines += [
        f"## time per sheet ({'+'.join(card.inputs)} classifier), load {os.getloadavg()[0]:.1f}",
        f"measure {measure_s / len(rows):.3f} s/sheet, classify {classify_s / len(rows):.3f} "
        f"s/sheet: classify adds {100 * classify_s / measure_s:.1f} % to measure",
    ]
    for kind in ("kept", "rejected"):
        gallery_png(
            leaves[leaves["intact"] == (kind == "kept")],
            rows,
            HERE / "results" / f"classify_{kind}.png",
            title=f"held-out synthetic: {kind} by the classifier",
        )
    write_report(lines, args.out)


if __name__ == "__main__":
    main()
