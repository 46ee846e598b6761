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
the threshold and the refinement settings (one ``.npz`` a sheet, 5-20 MB). It does so by wrapping
``herbseg.stages.predict.write_prediction``, the one place a predicted mask is written from.

``compare`` makes each sheet's mask again through that same ``write_prediction`` with the
recorded settings changed twice (``--before`` and ``--after``, e.g. ``off_axis=0`` and
``off_axis=20``), and writes the pixels each adds and removes per sheet (``changes.csv``),
the totals (``results.md``) and crops round the largest changes (``changes.jpg``; green: added by
``--after``, red: removed, magenta: in both). Given true masks (``--truth plant=DIR`` and parts,
e.g. ``flowers=DIR stems=DIR``, as a synthetic collection has them), both are scored: pooled IoU,
precision and recall, and each part's recall. A tuple is given as ``bays=2,4`` (``bays=`` for
none). So a constant can be chosen on the validation collections (``record --sheets
v5150=DIR/collection/sheets``) in seconds a try.

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
from _report import change_overlay, montage, write_report
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


def record(model: str, out: Path, sets: dict[str, Path]) -> None:
    """Predict every sheet of ``sets`` (name: folder), keeping each mask's inputs as
    ``<name>/<sheet_id>.npz`` (synthetic collections reuse sheet names)."""
    out.mkdir(parents=True, exist_ok=True)
    write = predict_stage.write_prediction

    def keep(prob, sheet_id, out_dir, sheet_size, **kw):
        rgb = kw["sheet_rgb"]()
        if rgb is not None:
            np.savez(
                out / current / f"{sheet_id}.npz", prob=prob.astype(np.float32), rgb=rgb,
                size=np.array(sheet_size), band=kw["band"], threshold=kw["threshold"],
                refine=json.dumps(dataclasses.asdict(kw["refine"] or RefineSettings())),
            )  # fmt: skip
        kw["sheet_rgb"] = lambda: rgb
        return write(prob, sheet_id, out_dir, sheet_size, **kw)

    predict_stage.write_prediction = keep
    try:
        for current, folder in sets.items():
            (out / current).mkdir(exist_ok=True)
            files = sorted(folder.rglob("*.jpg"))
            config = load_config(CONFIGS, sheets=str(folder))
            predict_sheets(files, model, out / "predict" / current, config, threads=2, log=print)
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
        if types[key] is tuple:  # "2,4" (or "" for none)
            out[key] = tuple(float(v) for v in value.split(",") if v)
        else:
            out[key] = value.lower() == "true" if types[key] is bool else types[key](value)
    return out


def _mask(kept: np.lib.npyio.NpzFile, change: dict, tmp: Path) -> np.ndarray:
    """The sheet's mask made again by ``write_prediction`` with its settings changed."""
    recorded = json.loads(str(kept["refine"]))
    if "bay" in recorded:  # session 37's one radius, before ``bays``
        bay = recorded.pop("bay")
        recorded["bays"] = (bay,) if bay else ()
    recorded = {k: tuple(v) if isinstance(v, list) else v for k, v in recorded.items()}
    refine = RefineSettings(**{**recorded, **change})
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
        crop = rgb[y0:y1, x0:x1]
        over = change_overlay(crop, a[y0:y1, x0:x1], b[y0:y1, x0:x1])
        tiles.append(Image.fromarray(np.concatenate([crop, over], axis=1)))
    return tiles


def _scores(masks: dict[str, np.ndarray], sheet_id: str, truth: dict[str, Path]) -> dict:
    """Per mask (``before``, ``after``), its true and false positives and false negatives against
    ``truth["plant"]/<sheet_id>.png``, and its hits on every other part (``truth[part]``)."""
    out = {}
    for name, folder in truth.items():
        path = folder / f"{sheet_id}.png"
        if not path.exists():
            continue
        true = read_mask(path)
        for which, mask in masks.items():
            out[f"{which}_{name}_hit"] = int((mask & true).sum())
            if name == "plant":
                out[f"{which}_plant_fp"] = int((mask & ~true).sum())
        out[f"{name}_px"] = int(true.sum())
    return out


def _truth_lines(table: pd.DataFrame, truth: dict[str, Path]) -> list[str]:
    """Pooled IoU, precision and recall before and after, and each part's recall."""
    lines = ["", "| against the truth | before | after |", "|---|---|---|"]
    if "plant_px" in table:
        for which in ("before", "after"):
            tp, fp = table[f"{which}_plant_hit"].sum(), table[f"{which}_plant_fp"].sum()
            fn = table["plant_px"].sum() - tp
            table.attrs[which] = (tp / (tp + fp + fn), tp / (tp + fp), tp / (tp + fn))
        for i, measure in enumerate(("IoU", "precision", "recall")):
            b, a = table.attrs["before"][i], table.attrs["after"][i]
            lines.append(f"| {measure} | {b:.4f} | {a:.4f} |")
    for name in truth:
        if name != "plant" and f"{name}_px" in table:
            total = table[f"{name}_px"].sum()
            b, a = (table[f"{w}_{name}_hit"].sum() / max(total, 1) for w in ("before", "after"))
            lines.append(f"| {name} recall | {b:.4f} | {a:.4f} |")
    return lines


def compare(
    folder: Path, before: dict, after: dict, out: Path, show: int, truth: dict[str, Path]
) -> None:
    """Per sheet, the pixels ``after`` adds to and removes from ``before``'s mask, and with
    ``truth`` (``plant`` and other parts: folders of true masks) how both score."""
    rows, changed = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for path in sorted(folder.rglob("*.npz")):
            kept = np.load(path)
            a, b = _mask(kept, before, Path(tmp)), _mask(kept, after, Path(tmp))
            added, removed = int((b & ~a).sum()), int((a & ~b).sum())
            sheet = str(path.relative_to(folder).with_suffix(""))
            rows.append({"sheet": sheet, "mask_px": int(a.sum()), "added": added,
                         "removed": removed,
                         **_scores({"before": a, "after": b}, path.stem, truth)})  # fmt: skip
            if added + removed:  # only the ``show`` largest are kept for drawing
                changed.append((added + removed, sheet, kept["rgb"], a, b))
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
        *(_truth_lines(table, truth) if truth else []),
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
    rec.add_argument(
        "--sheets", nargs="+", metavar="NAME=DIR", help="folders of sheets (default: ../shared)"
    )
    cmp_ = sub.add_parser("compare")
    cmp_.add_argument("folder", type=Path)
    cmp_.add_argument("--before", nargs="+", default=[], help="FIELD=VALUE of RefineSettings")
    cmp_.add_argument("--after", nargs="+", required=True, help="FIELD=VALUE of RefineSettings")
    cmp_.add_argument("--show", type=int, default=8, help="sheets drawn in changes.jpg")
    cmp_.add_argument("--out", type=Path, default=Path("results/replay_compare"))
    cmp_.add_argument(
        "--truth", nargs="+", default=[], metavar="PART=DIR",
        help="true masks, named as the sheets: plant=DIR (IoU), and parts (recall): flowers=DIR",
    )  # fmt: skip
    args = ap.parse_args()
    if args.command == "record":
        sets = dict(_pair(item) for item in args.sheets) if args.sheets else SETS
        record(args.model, args.out, sets)
    else:
        truth = dict(_pair(item) for item in args.truth)
        compare(
            args.folder, _settings(args.before), _settings(args.after), args.out, args.show, truth
        )


def _pair(item: str) -> tuple[str, Path]:
    """``NAME=DIR`` as ``(NAME, Path(DIR))``."""
    name, sep, folder = item.partition("=")
    if not sep or not Path(folder).is_dir():
        sys.exit(f"{item!r}: expected NAME=DIR with an existing folder")
    return name, Path(folder)


if __name__ == "__main__":
    main()
