"""Edge refinement's fixed constants, changed and replayed on the real sheets without rerunning
the network.

Refinement (:mod:`herbseg.measurement.refine`) re-decides every mask from the network's
probabilities and the sheet's colours; its constants are fixed fields of ``RefineSettings``, not
config keys. A change to one is judged on the synthetic validation collections (which have
truth) and then looked at on the real sheets, which have none: which sheets change, by how
many pixels, and where. Predicting 357 sheets takes the network ~10 minutes on 2 cores; the
refinement a few seconds a sheet. So:

``record`` predicts the sheets once with a model, as ``herbseg predict`` does
(:func:`herbseg.quick.predict_sheets`), and keeps what each sheet's mask was made from:
the network's probabilities on the mask's grid (tiles included), the sheet on that grid, the band,
the threshold and the refinement settings (one ``.npz`` a sheet, ~5 MB). It does so by wrapping
``herbseg.stages.predict.write_prediction``, the one place a predicted mask is written from.

``compare`` makes each sheet's mask again through that same ``write_prediction`` with the
recorded settings changed twice (``--before`` and ``--after``, e.g. ``off_axis=0`` and
``off_axis=20``), and writes the pixels each adds and removes per sheet (``changes.csv``),
the totals (``results.md``) and crops round the largest changes (``changes.jpg``; green: added by
``--after``, red: removed, magenta: in both).

Run: PYTHONPATH=src .venv/bin/python benchmarks/refine_replay.py record --model MODEL
        --out results/replay (default sheets: the 345 Violaceae and 12 LeafMachine2 sheets)
     PYTHONPATH=src .venv/bin/python benchmarks/refine_replay.py compare results/replay
        --before off_axis=0 --after off_axis=20 --out results/replay_off_axis
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from _report import montage, write_report
from PIL import Image
from scipy import ndimage as ndi

sys.path.insert(0, str(Path(__file__).resolve().parent))

from lm2_overlays import CONFIGS  # noqa: E402

import herbseg.stages.predict as predict_stage  # noqa: E402
from herbseg.config.schema import load_config  # noqa: E402
from herbseg.io.images import read_mask  # noqa: E402
from herbseg.measurement.refine import RefineSettings  # noqa: E402
from herbseg.model.masks import write_prediction  # noqa: E402
from herbseg.quick import predict_sheets  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
SETS = {"lm2": SHARED / "leafmachine2_demo", "violaceae": SHARED / "violaceae" / "images"}


def record(model: str, out: Path) -> None:
    """Predict every sheet of :data:`SETS`, keeping each mask's inputs as ``<sheet_id>.npz``."""
    out.mkdir(parents=True, exist_ok=True)
    write = predict_stage.write_prediction

    def keep(prob, sheet_id, out_dir, sheet_size, **kw):
        rgb = kw["sheet_rgb"]()
        if rgb is not None:
            np.savez(
                out / f"{sheet_id}.npz", prob=prob.astype(np.float32), rgb=rgb,
                size=np.array(sheet_size), band=kw["band"], threshold=kw["threshold"],
                refine=json.dumps(dataclasses.asdict(kw["refine"] or RefineSettings())),
            )  # fmt: skip
        kw["sheet_rgb"] = lambda: rgb
        return write(prob, sheet_id, out_dir, sheet_size, **kw)

    predict_stage.write_prediction = keep
    try:
        for name, folder in SETS.items():
            files = sorted(folder.rglob("*.jpg"))
            config = load_config(CONFIGS, sheets=str(folder))
            predict_sheets(files, model, out / "predict" / name, config, threads=2, log=print)
    finally:
        predict_stage.write_prediction = write


def _settings(text: list[str]) -> dict:
    """``["off_axis=20", …]`` as a dict of RefineSettings fields, typed as the field is."""
    types = {f.name: type(f.default) for f in dataclasses.fields(RefineSettings)}
    out = {}
    for item in text:
        key, _, value = item.partition("=")
        if key not in types:
            sys.exit(f"--before/--after: RefineSettings has no field {key!r}")
        out[key] = value.lower() == "true" if types[key] is bool else types[key](value)
    return out


def _mask(kept: np.lib.npyio.NpzFile, change: dict, tmp: Path) -> np.ndarray:
    """The sheet's mask made again by ``write_prediction`` with its settings changed."""
    refine = RefineSettings(**{**json.loads(str(kept["refine"])), **change})
    rgb = kept["rgb"]
    row, _ = write_prediction(
        kept["prob"], "replay", tmp, tuple(int(v) for v in kept["size"]),
        threshold=float(kept["threshold"]), band=int(kept["band"]), refine=refine,
        sheet_rgb=lambda: rgb,
    )  # fmt: skip
    return read_mask(row["mask_path"])


def _crops(rgb: np.ndarray, a: np.ndarray, b: np.ndarray, n: int = 2) -> list[Image.Image]:
    """The ``n`` largest places where ``a`` and ``b`` differ, each beside its overlay."""
    diff = a ^ b
    labels, _ = ndi.label(ndi.binary_dilation(diff, iterations=30))
    tiles = []
    for ys, xs in sorted(ndi.find_objects(labels), key=lambda sl: -diff[sl].sum())[:n]:
        y0, y1 = max(0, ys.start - 10), ys.stop + 10
        x0, x1 = max(0, xs.start - 10), xs.stop + 10
        crop, aa, bb = rgb[y0:y1, x0:x1], a[y0:y1, x0:x1], b[y0:y1, x0:x1]
        over = crop.copy()
        both = aa & bb
        over[both] = (over[both] * 0.5 + np.array([255, 0, 255]) * 0.5).astype(np.uint8)
        over[bb & ~aa], over[aa & ~bb] = (0, 255, 0), (255, 0, 0)
        tiles.append(Image.fromarray(np.concatenate([crop, over], axis=1)))
    return tiles


def compare(folder: Path, before: dict, after: dict, out: Path, show: int) -> None:
    """Per sheet, the pixels ``after`` adds to and removes from ``before``'s mask."""
    rows, changed = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for path in sorted(folder.glob("*.npz")):
            kept = np.load(path)
            a, b = _mask(kept, before, Path(tmp)), _mask(kept, after, Path(tmp))
            added, removed = int((b & ~a).sum()), int((a & ~b).sum())
            rows.append({"sheet": path.stem, "mask_px": int(a.sum()), "added": added,
                         "removed": removed})  # fmt: skip
            if added + removed:  # only the ``show`` largest are kept for drawing
                changed.append((added + removed, path.stem, kept["rgb"], a, b))
                changed = sorted(changed, key=lambda c: -c[0])[:show]
    table = pd.DataFrame(rows)
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "changes.csv", index=False)
    tiles = [t for _, _, rgb, a, b in changed for t in _crops(rgb, a, b)]
    montage(tiles, out / "changes.jpg", size=(400, 220), columns=4)
    lines = [
        f"before: {before}; after: {after}",
        "",
        "| sheets | changed | mask px (before) | added | removed |",
        "|---|---|---|---|---|",
        f"| {len(table)} | {int(((table.added + table.removed) > 0).sum())} "
        f"| {int(table.mask_px.sum())} | {int(table.added.sum())} | {int(table.removed.sum())} |",
        "",
        "Largest changes (`changes.jpg`, in this order):",
        "",
        *[
            f"- {sid}: +{int((b & ~a).sum())} / -{int((a & ~b).sum())}"
            for _, sid, _, a, b in changed
        ],
    ]
    write_report(lines, out / "results.md")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    rec = sub.add_parser("record")
    rec.add_argument("--model", required=True)
    rec.add_argument("--out", type=Path, default=Path("results/replay"))
    cmp_ = sub.add_parser("compare")
    cmp_.add_argument("folder", type=Path)
    cmp_.add_argument("--before", nargs="+", default=[], help="FIELD=VALUE of RefineSettings")
    cmp_.add_argument("--after", nargs="+", required=True, help="FIELD=VALUE of RefineSettings")
    cmp_.add_argument("--show", type=int, default=8, help="sheets drawn in changes.jpg")
    cmp_.add_argument("--out", type=Path, default=Path("results/replay_compare"))
    args = ap.parse_args()
    if args.command == "record":
        record(args.model, args.out)
    else:
        compare(args.folder, _settings(args.before), _settings(args.after), args.out, args.show)


if __name__ == "__main__":
    main()
