"""The 12 LeafMachine2 sheets through a model in predict-only mode, drawn for a person to check.

Runs ``herbseg predict`` (:func:`herbseg.quick.predict_sheets`) on ``../shared/data/
leafmachine2_demo`` once per ``predict.refine_thin`` value given, and writes under ``--out``:
each run's masks, overlays and ``leaf_area.csv`` (``thin_<value>/``); ``overlays.jpg``, the
overlays of the last value tiled 4×3; and, with two values, ``difference.jpg``: the sheets with
the pixels the last adds (blue) and removes (red) against the first, and ``difference.csv``
(mask pixels per sheet, each way). ``--before OTHER_MODEL`` draws the difference against another
model (the one this replaces) with the last value instead (its run in ``before/``). There is no
truth on these sheets: the figures are for eyes.

Run: .venv/bin/python benchmarks/lm2_overlays.py --model results/violaceae/recipe/model \
        --refine-thin 0 auto
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))

from violaceae_register import REPO  # noqa: E402

from herbseg.config.schema import load_config  # noqa: E402
from herbseg.io.images import read_mask  # noqa: E402
from herbseg.quick import predict_sheets  # noqa: E402

SHEETS = REPO.parent / "shared" / "data" / "leafmachine2_demo"
CONFIGS = [REPO / "config" / n for n in ("config.yaml", "violaceae.yaml", "violaceae_recipe.yaml")]
TILE = (500, 750)


def montage(images: list[np.ndarray], path: Path, columns: int = 4) -> None:
    """Tile same-size thumbnails into one JPEG (row-major)."""
    thumbs = [np.asarray(Image.fromarray(a).convert("RGB").resize(TILE)) for a in images]
    thumbs += [np.full_like(thumbs[0], 255)] * (-len(thumbs) % columns)
    rows = [np.concatenate(thumbs[i : i + columns], 1) for i in range(0, len(thumbs), columns)]
    Image.fromarray(np.concatenate(rows, 0)).save(path, quality=88)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, required=True)
    ap.add_argument("--refine-thin", nargs="+", default=["auto"], help="values, side by side")
    ap.add_argument("--config", type=Path, nargs="+", default=CONFIGS)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=REPO / "results" / "lm2_overlays")
    ap.add_argument("--before", type=Path, help="a model to draw the difference against")
    args = ap.parse_args()
    if not SHEETS.is_dir():
        sys.exit(f"{SHEETS} not found: this needs the shared LeafMachine2 sheets")
    files = sorted(SHEETS.glob("*.jpg"))
    runs = {}
    jobs = [(v, args.model, f"thin_{v}") for v in args.refine_thin]
    if args.before:
        jobs.insert(0, (args.refine_thin[-1], args.before, "before"))
    for value, model, name in jobs:
        config = load_config(args.config, sheets=str(SHEETS))
        config["predict"]["refine_thin"] = value if value == "auto" else float(value)
        out = args.out / name
        runs[name] = predict_sheets(files, model, out, config, threads=args.threads,
                                    log=lambda m: None)  # fmt: skip
        print(f"{model}, refine_thin {value}: {out}")
    first, second = jobs[0][2], jobs[-1][2]
    overlays = sorted((args.out / second / "overlays").glob("*.jpg"))
    montage([np.asarray(Image.open(p)) for p in overlays], args.out / "overlays.jpg")
    if first == second:
        return
    a, b = (runs[v].set_index("sheet_id")["predicted_mask"] for v in (first, second))
    images, rows = [], []
    for sid, path in zip(runs[first]["sheet_id"], runs[first]["path"]):
        ma, mb = read_mask(a[sid]), read_mask(b[sid])
        rgb = np.asarray(Image.open(path).convert("RGB")).copy()
        rgb[mb & ~ma] = (0, 160, 255)
        rgb[ma & ~mb] = (255, 0, 0)
        images.append(rgb)
        rows.append({"sheet_id": sid, f"pixels_{first}": int(ma.sum()),
                     f"pixels_{second}": int(mb.sum()), "added": int((mb & ~ma).sum()),
                     "removed": int((ma & ~mb).sum())})  # fmt: skip
    montage(images, args.out / "difference.jpg")
    table = pd.DataFrame(rows)
    table.to_csv(args.out / "difference.csv", index=False)
    print(table.to_string(index=False))


if __name__ == "__main__":
    main()
