"""Reference leaf masks for the 12 LeafMachine2 sheets, and a model's leaf area against them.

The sheets (``../shared/data/leafmachine2_demo``) have no truth. A reference is made here the
way a careful person with a colour picker would: on white paper a leaf is whatever is not
paper, so every pixel is scored by its CIELAB distance from the sheet's own paper colour (the
median of the bright, grey pixels on the sheet) and called leaf when that distance is more than
half the distance of the leaf interior nearby (a Gaussian window of 15 pixels over pixels three
pixels inside), i.e. at half cover, as a mask drawn at 50 % would be; never below 8 (ΔE 8 is
paper grain and shading). Pale veins and spots inside a leaf are leaf (holes of that mask whose
colour is not paper are filled); holes where the paper shows through stay holes.

What is leaf and what is not is said by hand, in ``lm2_reference.yaml``: one point inside each
leaf, and boxes around washers or a pen lying on a leaf, in which grey and black pixels are
taken out. Only pieces holding a point are kept, so label print, pens, tweezers, a sticky note,
washers and stickers on bare paper, and the sheet's shadowed edge (the paper's hull, shrunk by
12 pixels) are left out. Each reference is drawn for checking (``check/``: the outline on the
sheet at full resolution, one image a sheet; ``overview.jpg``: the references tinted magenta).
The rule and its numbers were fixed before any model was compared with it.

With ``--predicted DIR`` (a ``herbseg predict`` output: ``DIR/masks/*.png`` and
``DIR/leaf_area.csv``, e.g. ``lm2_overlays.py``'s ``thin_auto``), each sheet's predicted leaf
pixels are compared with the reference's: the predicted mask as written (``mask``) and the
area the measure stage reports after clean-up (``measured``, converted back to pixels with the
sheet's own scale), the difference in per cent, IoU, precision and recall; ``difference.jpg``
draws what the model adds (blue) and leaves out (red).

Run: .venv/bin/python benchmarks/lm2_reference.py --out /tmp/lm2ref \
        [--predicted /tmp/lm2/thin_auto]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from PIL import Image
from scipy import ndimage as ndi
from skimage.color import rgb2lab

sys.path.insert(0, str(Path(__file__).resolve().parent))

from lm2_overlays import SHEETS, montage  # noqa: E402

from herbseg.io.images import read_mask  # noqa: E402
from herbseg.measurement.sheet_region import sheet_region  # noqa: E402

HERE = Path(__file__).resolve().parent
GRAIN = 8.0  # ΔE below which a pixel is paper, whatever the leaf nearby
INTERIOR = 3  # pixels inside the candidate pieces that sample the leaf's own colour
WINDOW = 15.0  # Gaussian sigma (pixels) of the leaf colour nearby
EDGE = 12  # pixels off the sheet region's hull (grown by its 256-px picture's pixel)
GREY = 12.0  # CIELAB chroma below which a pixel inside a `cut` box is not leaf


def paper_distance(rgb: np.ndarray, region: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """CIELAB distance of every pixel from the median colour of the sheet's bright grey paper,
    and every pixel's chroma."""
    lab = rgb2lab(rgb)
    chroma = np.hypot(lab[..., 1], lab[..., 2])
    paper = (lab[..., 0] > 80) & (chroma < GREY) & region
    return np.sqrt(((lab - np.median(lab[paper], axis=0)) ** 2).sum(-1)), chroma


def reference_mask(rgb: np.ndarray, leaves: list, cuts: list) -> np.ndarray:
    """The leaf mask of one sheet: pixels at least half as far from paper as the leaf nearby,
    in the pieces that hold a hand-placed point."""
    region = sheet_region(rgb)
    if region is None:
        region = np.ones(rgb.shape[:2], bool)
    region = ndi.binary_erosion(region, iterations=EDGE)  # the table, not the paper's edge
    de, chroma = paper_distance(rgb, region)
    candidate = (de > GRAIN) & region
    for x0, y0, x1, y1 in cuts:
        box = candidate[y0:y1, x0:x1]
        box &= chroma[y0:y1, x0:x1] >= GREY
    pieces, _ = ndi.label(candidate, structure=np.ones((3, 3), bool))
    missing = [(x, y) for x, y in leaves if pieces[y, x] == 0]
    if missing:
        raise ValueError(f"leaf points on no piece: {missing}")
    candidate = np.isin(pieces, sorted({int(pieces[y, x]) for x, y in leaves}))
    core = ndi.binary_erosion(candidate, iterations=INTERIOR)
    weight = ndi.gaussian_filter(core.astype(np.float32), WINDOW)
    total = ndi.gaussian_filter(np.where(core, de, 0).astype(np.float32), WINDOW)
    near = np.where(weight > 0.02, total / np.maximum(weight, 1e-6), np.median(de[core]))
    mask = candidate & (de > 0.5 * near)
    return mask | (ndi.binary_fill_holes(mask) & candidate)  # pale veins and spots, not holes


def outline(rgb: np.ndarray, mask: np.ndarray, colour=(255, 0, 255)) -> np.ndarray:
    """The sheet with the mask's one-pixel outline drawn on it."""
    out = rgb.copy()
    out[mask & ~ndi.binary_erosion(mask)] = colour
    return out


def compare(ref: np.ndarray, pred: np.ndarray) -> dict:
    """Pixel counts and agreement of a predicted mask with the reference."""
    both = int((ref & pred).sum())
    r, p = int(ref.sum()), int(pred.sum())
    return {"reference_px": r, "mask_px": p, "mask_diff_pct": 100 * (p - r) / r,
            "iou": both / max(1, int((ref | pred).sum())), "precision": both / max(1, p),
            "recall": both / max(1, r)}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--points", type=Path, default=HERE / "lm2_reference.yaml")
    ap.add_argument("--predicted", type=Path, help="a herbseg predict output to compare")
    args = ap.parse_args()
    if not SHEETS.is_dir():
        sys.exit(f"{SHEETS} not found: this needs the shared LeafMachine2 sheets")
    hand = yaml.safe_load(args.points.read_text())
    for sub in ("masks", "check"):
        (args.out / sub).mkdir(parents=True, exist_ok=True)
    measured = None
    if args.predicted:
        measured = pd.read_csv(args.predicted / "leaf_area.csv").set_index("sheet_id")
    rows, thumbs, diffs = [], [], []
    for sid, marks in hand.items():
        rgb = np.asarray(Image.open(SHEETS / f"{sid}.jpg").convert("RGB"))
        ref = reference_mask(rgb, marks["leaves"], marks.get("cut", []))
        Image.fromarray(ref).save(args.out / "masks" / f"{sid}.png")
        drawn = outline(rgb, ref)
        Image.fromarray(drawn).save(args.out / "check" / f"{sid}.png")
        tinted = rgb.copy()
        tinted[ref] = rgb[ref] // 2 + np.array([127, 0, 127], np.uint8)
        thumbs.append(tinted)
        row = {"sheet_id": sid, "leaf_points": len(marks["leaves"])}
        if measured is not None:
            pred = read_mask(args.predicted / "masks" / f"{sid}.png")
            row |= compare(ref, pred)
            diff = rgb.copy()
            diff[pred & ~ref], diff[ref & ~pred] = (0, 160, 255), (255, 0, 0)
            diffs.append(diff)
            m = measured.loc[sid]
            px = m["leaf_area_mm2"] * m["px_per_mm"] ** 2  # NaN where no scale was read
            row |= {
                "measured_px": round(px) if px == px else None,
                "measured_diff_pct": 100 * (px - ref.sum()) / ref.sum(),
            }
        else:
            row["reference_px"] = int(ref.sum())
        rows.append(row)
        print(row, flush=True)
    montage(thumbs, args.out / "overview.jpg", columns=6)
    if diffs:
        montage(diffs, args.out / "difference.jpg", columns=6)
    table = pd.DataFrame(rows)
    table.to_csv(args.out / "comparison.csv", index=False)
    if measured is not None:
        within = (table["measured_diff_pct"].abs() <= 3).sum()
        print(f"measured leaf area within 3 % of the reference on {within}/{len(table)} sheets; "
              f"|difference| median {table['measured_diff_pct'].abs().median():.2f} %")  # fmt: skip
    (args.out / "comparison.md").write_text(table.to_markdown(index=False, floatfmt=".3f") + "\n")


if __name__ == "__main__":
    main()
