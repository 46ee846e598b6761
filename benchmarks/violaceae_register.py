"""Register the Violaceae masks onto their sheets (a repair of the shared data, not a method).

The 33 masks in ``../shared/data/violaceae/masks`` are 256×384 and were drawn on other crops of
the photographs than the ``images/`` we have: stretched onto their sheet (what ingest and
evaluate do with any mask) they sit up to ~10 % of the sheet off the plant, differently on every
sheet, so even a perfect segmenter scores a pooled IoU of about 0.5 against them. This script
finds, per sheet, the axis-aligned placement of the mask on the sheet — scale and offset in x
and in y, four numbers, the mask's shape untouched — that best overlaps a model-free colour
segmentation of the sheet (:func:`herbseg.stages.baseline.segment` with ``method: otsu``), and
writes
the placed masks at the sheet's size.

Four parameters cannot redraw an outline, so the registered masks keep the annotator's shapes;
only where they sit changes. The proxy is none of the models being compared (Otsu needs no
training and no masks). Both figures — against the masks as shipped and as registered — are
reported by ``benchmarks/violaceae.py``.

Run: .venv/bin/python benchmarks/violaceae_register.py [--out results/violaceae/registered]
Writes ``<out>/masks/<stem>_mask.png`` (sheet size) and ``<out>/registration.csv``.
"""

from __future__ import annotations

import argparse
import glob
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

from herbseg.io.images import load_rgb, read_mask, write_mask
from herbseg.stages.baseline import BaselineSettings, segment

REPO = Path(__file__).resolve().parents[1]
# HERBSEG_VIOLACEAE points elsewhere (a copy of the annotated sheets on a GPU machine).
DATA = Path(os.environ.get("HERBSEG_VIOLACEAE") or REPO.parent / "shared" / "data" / "violaceae")
# Search grid: scale and offset (fractions of the sheet) per axis, coarse then fine.
COARSE = (np.arange(0.84, 1.161, 0.04), np.arange(-0.10, 0.101, 0.025))
FINE = (np.arange(-0.02, 0.021, 0.01), np.arange(-0.012, 0.0121, 0.004))
PROXY_WIDTH = 160


def _indices(n_out: int, n_mask: int, scale: float, offset: float) -> np.ndarray:
    """Mask row/column of each output row/column (-1 outside the mask), nearest neighbour."""
    u = ((np.arange(n_out) + 0.5) / n_out - offset) / scale
    idx = np.floor(u * n_mask).astype(int)
    idx[(idx < 0) | (idx >= n_mask)] = -1
    return idx


def place(mask: np.ndarray, width: int, height: int, t: tuple[float, float, float, float]):
    """The mask placed on a ``width×height`` grid by ``(sx, tx, sy, ty)`` (identity: stretched)."""
    sx, tx, sy, ty = t
    cols = _indices(width, mask.shape[1], sx, tx)
    rows = _indices(height, mask.shape[0], sy, ty)
    padded = np.pad(mask, ((0, 1), (0, 1)))  # index -1 reads the zero pad
    return padded[rows[:, None], cols[None, :]]


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def register(mask: np.ndarray, proxy: np.ndarray) -> tuple[tuple[float, ...], float, float]:
    """Best ``(sx, tx, sy, ty)`` by IoU with ``proxy``; returns it, the IoU before and after."""
    h, w = proxy.shape
    before = _iou(place(mask, w, h, (1.0, 0.0, 1.0, 0.0)), proxy)
    best, best_iou = (1.0, 0.0, 1.0, 0.0), before

    def search(sxs, txs, sys_, tys) -> None:
        nonlocal best, best_iou
        padded = np.pad(mask, ((0, 1), (0, 1)))  # index -1 reads the zero pad
        for sx in sxs:
            for tx in txs:
                cols = _indices(w, mask.shape[1], sx, tx)
                for sy in sys_:
                    for ty in tys:
                        rows = _indices(h, mask.shape[0], sy, ty)
                        v = _iou(padded[rows[:, None], cols[None, :]], proxy)
                        if v > best_iou + 1e-9:
                            best, best_iou = (float(sx), float(tx), float(sy), float(ty)), v

    search(COARSE[0], COARSE[1], COARSE[0], COARSE[1])
    sx, tx, sy, ty = best
    search(sx + FINE[0], tx + FINE[1], sy + FINE[0], ty + FINE[1])
    return best, before, best_iou


def annotated_pairs(data: Path = DATA) -> list[tuple[str, Path, Path]]:
    """``(stem, sheet, mask)`` of every mask whose sheet exists (one mask has no sheet)."""
    out = []
    for mpath in sorted((data / "masks").glob("*_mask.jpg")):
        stem = mpath.name[: -len("_mask.jpg")]
        found = glob.glob(str(data / "images" / "*" / f"{stem}.jpg"))
        if found:
            out.append((stem, Path(found[0]), mpath))
    return out


def register_all(out: Path, data: Path = DATA, log=print) -> pd.DataFrame:
    """Register every mask (cached: an existing ``registration.csv`` is reused)."""
    table_path = out / "registration.csv"
    if table_path.exists() and len(list((out / "masks").glob("*.png"))) > 0:
        return pd.read_csv(table_path)
    settings = BaselineSettings(method="otsu")
    rows = []
    t0 = time.perf_counter()
    for stem, sheet, mpath in annotated_pairs(data):
        rgb = load_rgb(sheet)
        mask = read_mask(mpath)
        h, w = rgb.shape[:2]
        ph = round(PROXY_WIDTH * h / w)
        proxy = segment(rgb, settings, out_size=(PROXY_WIDTH, ph), sheet_width=w)
        t, before, after = register(mask, proxy)
        placed = place(mask, w, h, t)
        stretched = place(mask, w, h, (1.0, 0.0, 1.0, 0.0))
        write_mask(out / "masks" / f"{stem}_mask.png", placed)
        rows.append({
            "stem": stem, "sheet_w": w, "sheet_h": h,
            "sx": round(t[0], 4), "tx": round(t[1], 4), "sy": round(t[2], 4), "ty": round(t[3], 4),
            "proxy_iou_stretched": round(before, 4), "proxy_iou_registered": round(after, 4),
            "iou_stretched_vs_registered": round(_iou(stretched, placed), 4),
        })  # fmt: skip
        log(f"{stem}: {rows[-1]}")
    table = pd.DataFrame(rows)
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(table_path, index=False)
    log(f"registered {len(table)} masks in {time.perf_counter() - t0:.0f} s")
    return table


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=REPO / "results" / "violaceae" / "registered")
    ap.add_argument("--data", type=Path, default=DATA)
    args = ap.parse_args()
    table = register_all(args.out, args.data)
    print(table.describe().round(3).to_string())


if __name__ == "__main__":
    main()
