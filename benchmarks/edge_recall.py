"""Does a model lose plants that run off the edge of the paper? Recall near a cut edge.

On the LeafMachine2 sheets the real-sheet model misses leaves that reach the paper's edge
(BENCHMARKS.md, "LeafMachine2 against a reference"): leaf recall 0.900 within 150 pixels of the
edge against 0.993 elsewhere. This reproduces that on synthetic sheets with exact truth, without
a real sheet: each sheet of a synthetic collection (by default the validation draw of
``synth_plant_heldout.py --seed 5150``) is cropped through its plant, a quarter of the plant's
extent off its top and right, and framed in a dark table border ``--border`` pixels wide, as a
photographed sheet is. The network (no refinement: this is about the network) predicts the
cropped sheet and, for comparison, the whole sheet. Plant recall is counted within 150 sheet
pixels of the two cut edges, for the cropped and for the whole sheet, and on the rest of the
cropped sheet.

Run: .venv/bin/python benchmarks/edge_recall.py --model MODEL --collection OUT/collection
(OUT: a ``synth_plant_heldout.py --seed 5150 --sheets 12 --out OUT`` run).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from herbseg.io.geometry import frame_to_grid, image_to_frame, plan
from herbseg.io.images import read_mask
from herbseg.model.infer import predict_proba
from herbseg.model.network import load_model

NEAR = 150  # sheet pixels from a cut edge
TABLE = (25, 22, 24)


def probability(net: torch.nn.Module, rgb: np.ndarray, frame: int) -> np.ndarray:
    """The network's probability on the sheet's grid, from one squashed frame (the resize
    and predict stages' geometry)."""
    h, w = rgb.shape[:2]
    geom = plan(w, h, frame, "squash")
    p = predict_proba(net, image_to_frame(rgb, geom)[None], "cpu")[0]
    return frame_to_grid(p, geom, w, h)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, required=True)
    ap.add_argument("--collection", type=Path, required=True, help="sheets/ and masks/")
    ap.add_argument("--frame", type=int, default=512)
    ap.add_argument("--border", type=int, default=40, help="table around the cropped sheet, px")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    net = load_model(args.model, "cpu")
    counts = {"near the cut, cropped": [0, 0], "same pixels, whole sheet": [0, 0],
              "elsewhere, cropped": [0, 0]}  # fmt: skip
    for path in sorted((args.collection / "sheets").glob("*.jpg")):
        rgb = np.asarray(Image.open(path).convert("RGB"))
        truth = read_mask(args.collection / "masks" / f"{path.stem}.png")
        ys, xs = np.nonzero(truth)
        if not len(ys):
            continue
        x1 = int(xs.min() + 0.75 * (xs.max() - xs.min()))
        y0 = int(ys.min() + 0.25 * (ys.max() - ys.min()))
        crop, t = rgb[y0:, :x1], truth[y0:, :x1]
        h, w = t.shape
        b = args.border
        framed = np.empty((h + 2 * b, w + 2 * b, 3), np.uint8)
        framed[:] = TABLE
        framed[b : b + h, b : b + w] = crop
        cropped = probability(net, framed, args.frame)[b : b + h, b : b + w] >= 0.5
        whole = probability(net, rgb, args.frame)[y0:, :x1] >= 0.5
        near = np.zeros_like(t)
        near[:NEAR], near[:, -NEAR:] = True, True
        for key, where, pred in (("near the cut, cropped", t & near, cropped),
                                 ("same pixels, whole sheet", t & near, whole),
                                 ("elsewhere, cropped", t & ~near, cropped)):  # fmt: skip
            counts[key][0] += int((where & pred).sum())
            counts[key][1] += int(where.sum())
    print(f"model {args.model}, {args.collection}, frame {args.frame}, border {args.border}")
    for key, (hit, total) in counts.items():
        print(f"  plant recall {key}: {hit / max(total, 1):.3f} ({total:,} plant pixels)")


if __name__ == "__main__":
    main()
