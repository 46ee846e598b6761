"""A model on a held-out synthetic whole-plant collection: pooled IoU, stem and flower recall.

The collection (``herbseg.synth.plant``, ``mask_class: plant``) is drawn with seed 90210, which no
training or tuning in this repository uses (training mixes in seed 2114; ``--seed 5150`` draws
the validation collection ``predict.refine_thin`` was chosen on); its ``stems/`` masks mark the
thin structures (stems, petioles, roots, culms), its ``flowers/`` masks the petals on paper
(pale ones are what a network takes for paper). A collection is drawn once per ``--out``.
Sheets are predicted the workflow's way (resize to the model's frame,
``herbseg.stages.predict.predict_shard``, edge refinement on) or, with ``--tiles``, by
``herbseg.model.tiles`` at that long side (``--tiles-mode``: thin parts added to the frame's, the
default, or tiles alone). ``--refine-thin 0 auto`` scores the same network's
masks with each ``predict.refine_thin`` side by side (``auto`` follows the model's card: on for
whole-plant models).

``--tta`` averages the four flips, as ``config/violaceae_recipe.yaml`` predicts. ``--fade K``
scores faded specimens: every sheet is brought toward its paper's colour, keeping the fraction
``K`` of each pixel's difference from it (an old specimen, a washed-out scan), and re-saved as
JPEG; the truth is the same.

Run: .venv/bin/python benchmarks/synth_plant_heldout.py --model results/violaceae/recipe/model --tta
Writes ``<out>/results.md`` (with the wrong pixels split by where they lie: false positives
near the true outline, a little and far outside it; missed stem and other pixels) and
``<out>/per_sheet_thin_<value>.csv`` (with each sheet's ``mask_doubt``, which
``benchmarks/mask_doubt.py`` ranks).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image
from scipy import ndimage as ndi

from herbseg.io.images import read_mask
from herbseg.model.card import read_card
from herbseg.model.network import load_model
from herbseg.model.tiles import TileSettings, predict_tiled_shard
from herbseg.stages.evaluate import evaluate
from herbseg.stages.ingest import ingest
from herbseg.stages.predict import PredictSettings, predict_shard
from herbseg.stages.resize import resize_shard
from herbseg.synth.plant import KINDS, plant_collection_once

REPO = Path(__file__).resolve().parents[1]
SEED = 90210
SPLIT = ("fp near", "fp 2-5 px", "fp further", "missed stem", "missed, other")


def error_split(pred: np.ndarray, truth: np.ndarray, stems: np.ndarray) -> list[int]:
    """Wrong pixels by where they lie: false positives within 1.5 sheet pixels of the true
    outline, 1.5-5 pixels out, further out; missed stem pixels; other missed pixels."""
    out = ndi.distance_transform_edt(~truth)
    fp, fn = pred & ~truth, truth & ~pred
    parts = [fp & (out <= 1.5), fp & (out > 1.5) & (out <= 5), fp & (out > 5), fn & stems]
    return [int(a.sum()) for a in parts] + [int((fn & ~stems).sum())]


def faded(sheets: Path, keep: float, out: Path) -> Path:
    """``sheets`` brought toward each one's paper colour (the median of its brightest quarter),
    keeping ``keep`` of every pixel's difference from it, in ``out/sheets_fade_<keep>``."""
    if not 0.0 < keep <= 1.0:
        raise SystemExit(f"--fade is a fraction in (0, 1], got {keep}")
    dest = out / f"sheets_fade_{keep:g}"
    dest.mkdir(parents=True, exist_ok=True)
    for path in sorted(sheets.glob("*.jpg")):
        rgb = np.asarray(Image.open(path).convert("RGB")).astype(np.float32)
        grey = rgb.mean(-1)
        paper = np.median(rgb[grey >= np.percentile(grey, 75)], axis=0)
        faint = paper + keep * (rgb - paper)
        Image.fromarray(faint.clip(0, 255).astype(np.uint8)).save(dest / path.name, quality=90)
    return dest


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, required=True)
    ap.add_argument("--sheets", type=int, default=20)
    ap.add_argument("--seed", type=int, default=SEED,
                    help="5150: where predict.refine_thin was chosen")  # fmt: skip
    ap.add_argument("--kind", choices=KINDS, help="every sheet of this kind (default: mixed)")
    ap.add_argument("--frame", type=int, default=None, help="default: the model card's frame")
    ap.add_argument("--tiles", type=int, default=0, help="tiled at this long side (0: frame)")
    ap.add_argument("--tiles-mode", choices=("thin", "replace"), default="thin",
                    help="predict.tiles.mode: thin parts added, or tiles alone")  # fmt: skip
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--tta", action="store_true", help="predict.tta: average the four flips")
    ap.add_argument("--refine-thin", nargs="+", default=["auto"],
                    help="predict.refine_thin values scored side by side")  # fmt: skip
    ap.add_argument("--fade", type=float, default=1.0,
                    help="keep this share of each pixel's difference from the paper")  # fmt: skip
    ap.add_argument("--photos", type=float, default=0.0,
                    help="share of sheets with a glued field photograph (not plant)")  # fmt: skip
    ap.add_argument("--out", type=Path, default=REPO / "results" / "synth_plant_heldout")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    data = args.out / "collection"
    plant_collection_once(data, args.sheets, args.seed, 1500, 2200, 200, workers=args.threads,
                          kind=args.kind, field_photos=args.photos)  # fmt: skip
    sheets = data / "sheets" if args.fade == 1.0 else faded(data / "sheets", args.fade, args.out)
    manifest, _, _ = ingest(str(sheets), str(data / "masks"), args.out / "ingest",
                            checksum=False, log=print)  # fmt: skip
    rows = manifest[manifest["status"] == "ok"].reset_index(drop=True)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    net = load_model(args.model, str(device))
    card = read_card(args.model)
    mask_class = card.get("mask_class")
    args.frame = args.frame or int(card.get("frame_size", 256))
    truth = dict(zip(rows["sheet_id"], rows["mask_path"]))
    resized = None
    splits: dict[str, list[int]] = {}
    md = ("| predict.refine_thin | IoU | Dice | precision | recall | stem-pixel recall "
          "| flower-pixel recall | sheets |\n|---|---|---|---|---|---|---|---|\n")  # fmt: skip
    for value in args.refine_thin:
        thin = value if value == "auto" else float(value)
        refine = PredictSettings(refine_thin=thin).refine_for(mask_class)
        masks = args.out / f"masks_thin_{value}"
        tiles = TileSettings(True, args.tiles_mode, args.tiles, args.frame)
        if args.tiles and args.tiles_mode == "replace":
            table = predict_tiled_shard(net, rows, masks, tiles, device=device,
                                        refine=refine, log=print)  # fmt: skip
        else:
            if resized is None:
                resized = resize_shard(rows, args.out / "resize", frame=args.frame,
                                       threads=args.threads)  # fmt: skip
            table = predict_shard(net, resized, masks, device=device, sheets=rows, tta=args.tta,
                                  refine=refine, threads=args.threads, log=print,
                                  tiles=tiles if args.tiles else None)  # fmt: skip
        items = pd.DataFrame({"sheet_id": table["sheet_id"], "pred_path": table["mask_path"],
                              "truth_path": [truth[s] for s in table["sheet_id"]]})  # fmt: skip
        per_sheet, summary = evaluate(items)
        hit = total = f_hit = f_total = 0
        wrong = [0] * len(SPLIT)
        for sid, pred in zip(table["sheet_id"], table["mask_path"]):
            stems = read_mask(data / "stems" / f"{sid}.png")
            p = read_mask(pred)
            hit, total = hit + int((p & stems).sum()), total + int(stems.sum())
            flowers = data / "flowers" / f"{sid}.png"  # absent in collections drawn before
            if flowers.exists():
                f = read_mask(flowers)
                f_hit, f_total = f_hit + int((p & f).sum()), f_total + int(f.sum())
            split = error_split(p, read_mask(truth[sid]), stems)
            wrong = [a + b for a, b in zip(wrong, split, strict=True)]
        splits[value] = wrong
        stem_recall = hit / max(total, 1)
        flower_recall = f"{f_hit / f_total:.3f}" if f_total else "—"
        per_sheet = per_sheet.merge(table[["sheet_id", "mask_doubt"]], on="sheet_id", how="left")
        per_sheet.to_csv(args.out / f"per_sheet_thin_{value}.csv", index=False)
        s = summary.iloc[0]
        md += (f"| {value} (thin {refine.thin:g}) | {s.iou:.3f} | {s.dice:.3f} | "
               f"{s.precision:.3f} | {s.recall:.3f} | {stem_recall:.3f} | {flower_recall} | "
               f"{int(s.n_sheets)} |\n")  # fmt: skip
    md += "\n| wrong pixels: predict.refine_thin | " + " | ".join(SPLIT) + " |\n"
    md += "|---" * (len(SPLIT) + 1) + "|\n"
    for value, wrong in splits.items():
        md += f"| {value} | " + " | ".join(f"{n:,}" for n in wrong) + " |\n"
    md += (f"\nmodel {args.model} (mask_class {mask_class}), seed {args.seed}, "
           f"frame {args.frame}"
           f"{f', tiles {args.tiles} ({args.tiles_mode})' if args.tiles else ''}"
           f"{', tta' if args.tta else ''}"
           f"{f', faded to {args.fade:g}' if args.fade != 1.0 else ''}, "
           f"load {os.getloadavg()[0]:.1f}\n")  # fmt: skip
    (args.out / "results.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
