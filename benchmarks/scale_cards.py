"""Scale cards, colour bars and barcodes on sheets: where `herbseg.measurement.scale_cards` finds
them, on every real sheet in ../shared and on synthetic sheets, and what `predict.drop_cards`
takes out of a model's masks.

A false find on a plant would cost that plant its grey pixels, so every find is drawn (red boxes)
on ``found_*.jpg`` to be checked by eye, and the table counts finds per collection with the
detector's time per sheet. Synthetic sheets (seed 4242, nobody trains on it) carry colour charts,
rulers, labels, barcodes and paperweights.

With ``--masks DIR …`` (masks a model predicted for the shared sheets with ``predict.drop_cards:
false``, named as predict names them: ``V05__V05_01_004.png``, ``LM_Validate_LowRes_1.png``), it
also clears them as predict would and writes the pixels taken per sheet (``removed.csv``) and
the sheets that lose most, cropped round what they lose (``removed.jpg``: red, taken out;
magenta, kept). On masks predict wrote with the option on, nothing is left to take.

Run: PYTHONPATH=src .venv/bin/python benchmarks/scale_cards.py [--masks DIR …]
[--out results/scale_cards] (~1 min on 2 cores)
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from _report import change_overlay, montage, write_report
from PIL import Image, ImageDraw

from herbseg.io.images import read_mask
from herbseg.measurement.glued_pictures import draw_boxes
from herbseg.measurement.scale_cards import drop_cards, find_cards
from herbseg.measurement.small_sheet import small_sheet
from herbseg.synth.plant import generate_plant_sheet

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"


def mask_name(path: Path) -> str:
    """The name predict gives a shared sheet's mask (its folder joins the stem in Violaceae)."""
    if "violaceae" in path.parts:
        return f"{path.parent.name}__{path.stem}"
    return path.stem


def crop_of_change(rgb: np.ndarray, before: np.ndarray, after: np.ndarray, label: str):
    """The sheet round what ``after`` lost: red taken out, magenta kept."""
    ys, xs = np.nonzero(before & ~after)
    cy, cx = int(np.median(ys)), int(np.median(xs))
    y0, x0 = max(0, cy - 150), max(0, cx - 110)
    vis = change_overlay(rgb, before, after)
    tile = Image.fromarray(vis[y0 : y0 + 300, x0 : x0 + 220])
    tile = tile.resize((tile.width * 3 // 2, tile.height * 3 // 2), Image.Resampling.NEAREST)
    draw = ImageDraw.Draw(tile)
    draw.rectangle(draw.textbbox((3, 3), label), fill=(255, 255, 255))
    draw.text((3, 3), label, fill=(0, 0, 255))
    return tile


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=REPO / "results" / "scale_cards")
    ap.add_argument("--masks", type=Path, nargs="+", default=[], help="folders of predicted masks")
    ap.add_argument("--synthetic", type=int, default=30)
    ap.add_argument("--show", type=int, default=18, help="sheets drawn in removed.jpg")
    args = ap.parse_args()
    if not SHARED.is_dir():
        sys.exit(f"{SHARED} not found: this needs the shared sheets")
    args.out.mkdir(parents=True, exist_ok=True)
    sets: dict[str, list] = {
        "Violaceae": sorted((SHARED / "violaceae" / "images").glob("*/*.jpg")),
        "LeafMachine2": sorted((SHARED / "leafmachine2_demo").rglob("*.jpg")),
        "synthetic": list(range(args.synthetic)),
    }
    lines = [
        "| sheets | n | with a find | finds | ms per sheet (detector) |",
        "|---|---|---|---|---|",
    ]
    removed, changes, notes = [], [], []
    for k, (name, items) in enumerate(sets.items()):
        found, finds, seconds, tiles = 0, 0, 0.0, []
        for item in items:
            if isinstance(item, Path):
                rgb = np.asarray(Image.open(item).convert("RGB"))
            else:
                rgb = generate_plant_sheet(4242, 1000, 1500, dpi=150, index=item).rgb
            t0 = time.perf_counter()
            small = small_sheet(rgb)
            boxes = find_cards(small)
            seconds += time.perf_counter() - t0
            if boxes:
                found, finds = found + 1, finds + len(boxes)
                tiles.append(draw_boxes(rgb, boxes))
            paths = (
                [d / f"{mask_name(item)}.png" for d in args.masks] if isinstance(item, Path) else []
            )
            path = next((p for p in paths if p.exists()), None)
            if path is not None:
                before = read_mask(path)
                if before.shape != rgb.shape[:2]:
                    sys.exit(f"{path}: the mask is not on the sheet's grid")
                after = drop_cards(before, rgb, small)
                lost = int((before & ~after).sum())
                removed.append(
                    {"sheet": mask_name(item), "mask_px": int(before.sum()), "removed_px": lost}
                )
                if lost:
                    changes.append((lost, mask_name(item), rgb, before, after))
        ms = 1000 * seconds / max(len(items), 1)
        lines.append(f"| {name} | {len(items)} | {found} | {finds} | {ms:.0f} |")
        montage(tiles, args.out / f"found_{k}.jpg")
        notes.append(f"`found_{k}.jpg`: {name}")
    lines += ["", "; ".join(notes), ""]
    if removed:
        table = pd.DataFrame(removed)
        table.to_csv(args.out / "removed.csv", index=False)
        lines.append(
            f"masks: {len(table)}; changed: {int((table.removed_px > 0).sum())}; pixels taken: "
            f"{int(table.removed_px.sum()):,} of {int(table.mask_px.sum()):,}"
        )
        changes.sort(key=lambda c: -c[0])
        tiles = [crop_of_change(rgb, b, a, f"{s} -{n}") for n, s, rgb, b, a in changes[: args.show]]
        if tiles:
            montage(tiles, args.out / "removed.jpg", size=(330, 450), columns=6)
    write_report(lines, args.out / "results.md")


if __name__ == "__main__":
    main()
