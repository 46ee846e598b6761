"""Pictures glued to sheets: where `herbseg.measurement.glued_pictures` finds them, on every real
sheet in ../shared and on synthetic sheets with and without field photographs.

`predict.drop_pictures` leaves out what a network marks inside a found picture, so a false find
on a plant would cost that plant: every find is drawn (red boxes) on ``found.jpg`` to be checked
by eye, and the table counts finds per collection. Synthetic sheets (seed 4242, nobody trains on
it) carry colour charts, labels, packets, paperweights; half of a second set carries a field
photograph (``herbseg.synth.field_photos``). Also the detector's time per sheet.

Run: PYTHONPATH=src .venv/bin/python benchmarks/glued_pictures.py [--out results/glued_pictures]
(~1 min on 2 cores)
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from _report import montage, write_report
from PIL import Image

from herbseg.measurement.glued_pictures import draw_boxes, find_pictures
from herbseg.measurement.small_sheet import small_sheet
from herbseg.synth.plant import generate_plant_sheet

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=REPO / "results" / "glued_pictures")
    ap.add_argument("--synthetic", type=int, default=30)
    args = ap.parse_args()
    if not SHARED.is_dir():
        sys.exit(f"{SHARED} not found: this needs the shared sheets")
    args.out.mkdir(parents=True, exist_ok=True)
    sets: dict[str, list] = {
        "Violaceae `_06_` (one herbarium glues field photographs)": sorted(
            (SHARED / "violaceae" / "images").glob("*/*_06_*.jpg")
        ),
        "Violaceae, other herbaria": sorted(
            p for p in (SHARED / "violaceae" / "images").glob("*/*.jpg") if "_06_" not in p.name
        ),
        "LeafMachine2": sorted((SHARED / "leafmachine2_demo").rglob("*.jpg")),
        "synthetic, no photograph": [(i, 0.0) for i in range(args.synthetic)],
        "synthetic, a photograph on every sheet": [(1000 + i, 1.0) for i in range(args.synthetic)],
    }
    lines = ["| sheets | n | with a find | finds | ms per sheet (detector) |"]
    lines.append("|---|---|---|---|---|")
    tiles: dict[str, list[Image.Image]] = {}
    for name, items in sets.items():
        found, finds, seconds = 0, 0, 0.0
        for item in items:
            if isinstance(item, Path):
                rgb = np.asarray(Image.open(item).convert("RGB"))
            else:
                rgb = generate_plant_sheet(
                    4242, 1000, 1500, dpi=150, index=item[0], paperweights=0.5,
                    field_photos=item[1],
                ).rgb  # fmt: skip
            t0 = time.perf_counter()
            boxes = find_pictures(small_sheet(rgb))
            seconds += time.perf_counter() - t0
            if boxes:
                found += 1
                finds += len(boxes)
                tiles.setdefault(name, []).append(draw_boxes(rgb, boxes))
        ms = 1000 * seconds / max(len(items), 1)
        lines.append(f"| {name} | {len(items)} | {found} | {finds} | {ms:.0f} |")
    for k, (name, pics) in enumerate(tiles.items()):
        montage(pics, args.out / f"found_{k}.jpg")
        lines.append(f"\n`found_{k}.jpg`: {name}")
    write_report(lines, args.out / "results.md")


if __name__ == "__main__":
    main()
