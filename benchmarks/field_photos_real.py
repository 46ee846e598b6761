"""Field photographs glued to real sheets: how much of them a model marks as plant.

One herbarium among the Violaceae sheets (the ``_06_`` sheets) glues a print of the living plant
beside about half of its specimens. A photograph shows leaves and flowers, but it is not specimen:
every pixel of it in a mask is leaf area that is not there. This scores models on the
**unannotated** ``_06_`` sheets (the annotated ones are CV test sheets and stay out), so it can
be used to choose without touching a test set.

The photographs are found without a model: a photograph is a large, nearly solid block of
non-paper pixels (density ≥ 0.85 in its box, at least 0.5 % of the sheet, not a long strip like
a colour chart); the boxes are drawn on ``boxes.jpg`` to be checked by eye. Each model then
predicts every sheet (``herbseg predict``'s code, the recipe's config) and the table gives, per
sheet and pooled, the share of photograph pixels it marked as plant and its mask pixels outside
the photographs (no truth there: a model that drops the plant with the photographs would show
it). ``overlays_<name>.jpg`` tiles each model's masks.

Run: .venv/bin/python benchmarks/field_photos_real.py --models A=path/to/model B=path/to/model
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parent))

from lm2_overlays import CONFIGS, montage  # noqa: E402
from violaceae_register import REPO  # noqa: E402

from herbseg.config.schema import load_config  # noqa: E402
from herbseg.io.images import read_mask  # noqa: E402
from herbseg.quick import predict_sheets  # noqa: E402

DATA = REPO.parent / "shared" / "data" / "violaceae"


def photo_boxes(rgb: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Boxes (x0, y0, x1, y1) of the glued photographs on one sheet: large, nearly solid blocks
    of pixels unlike the paper, neither strips (colour charts, rulers) nor specks."""
    paper = np.median(rgb.reshape(-1, 3), axis=0)
    other = np.abs(rgb.astype(np.float32) - paper).sum(-1) > 60
    closed = ndimage.binary_closing(other, iterations=3)
    labels, _ = ndimage.label(closed)
    boxes = []
    for sl in ndimage.find_objects(labels):
        h, w = sl[0].stop - sl[0].start, sl[1].stop - sl[1].start
        if h * w < 0.005 * other.size or not 0.4 <= w / h <= 2.5:
            continue
        if other[sl].mean() >= 0.85:
            boxes.append((sl[1].start, sl[0].start, sl[1].stop, sl[0].stop))
    return boxes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", required=True, help="NAME=model_folder, in order")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=REPO / "results" / "field_photos_real")
    args = ap.parse_args()
    if not DATA.is_dir():
        sys.exit(f"{DATA} not found: this needs the shared Violaceae sheets")
    annotated = {p.name.removesuffix("_mask.jpg") for p in (DATA / "masks").glob("*_mask.jpg")}
    files, boxes, drawn = [], {}, []
    for path in sorted((DATA / "images").glob("*/*_06_*.jpg")):
        if path.stem in annotated:
            continue
        img = Image.open(path).convert("RGB")
        found = photo_boxes(np.asarray(img))
        if found:
            files.append(path)
            boxes[path.stem] = found
            for box in found:
                ImageDraw.Draw(img).rectangle(box, outline=(255, 0, 0), width=6)
            drawn.append(np.asarray(img))
    args.out.mkdir(parents=True, exist_ok=True)
    montage(drawn, args.out / "boxes.jpg", columns=6)
    rows = []
    for spec in args.models:
        name, model = spec.split("=", 1)
        config = load_config(CONFIGS, sheets=str(DATA / "images"))
        run = predict_sheets(files, model, args.out / name, config, threads=args.threads,
                             log=lambda m: None)  # fmt: skip
        masks = run.set_index("path")["predicted_mask"]
        for path in files:
            mask = read_mask(masks[str(path)])
            inside = np.zeros(mask.shape, bool)
            for x0, y0, x1, y1 in boxes[path.stem]:
                inside[y0:y1, x0:x1] = True
            rows.append({"model": name, "sheet_id": path.stem, "photo_px": int(inside.sum()),
                         "marked_in_photo": int((mask & inside).sum()),
                         "mask_outside": int((mask & ~inside).sum())})  # fmt: skip
        tiles = [
            np.asarray(Image.open(p)) for p in sorted((args.out / name / "overlays").glob("*"))
        ]
        montage(tiles, args.out / f"overlays_{name}.jpg", columns=6)
    table = pd.DataFrame(rows)
    table["share_marked"] = table["marked_in_photo"] / table["photo_px"]
    table.to_csv(args.out / "per_sheet.csv", index=False)
    pooled = table.groupby("model", sort=False)[
        ["photo_px", "marked_in_photo", "mask_outside"]
    ].sum()
    pooled["share_marked"] = (pooled["marked_in_photo"] / pooled["photo_px"]).map("{:.4f}".format)
    md = (f"{len(files)} unannotated `_06_` Violaceae sheets with a photograph found\n\n"
          + pooled.to_markdown() + "\n")  # fmt: skip
    (args.out / "results.md").write_text(md)
    print(md)
    print(table.pivot(index="sheet_id", columns="model", values="share_marked").round(3))


if __name__ == "__main__":
    main()
