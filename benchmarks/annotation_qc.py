"""Annotation QC on the Violaceae masks, as registered and as shipped, plus planted faults.

The 32 registered masks are checked against their sheets with the workflow's own QC
(``herbseg.stages.annotation_qc``, default settings from the schema); so are the masks as shipped
(stretched onto other crops: many must fail) and, as a check that every fault kind is caught,
copies of the registered masks with planted faults: emptied, filled, inverted, shifted by a tenth
of the sheet, with a block of empty paper added, and painted in strokes (a smooth random field
keeps 70 % of the mask, as a brush that skips parts of the blades). Nothing here is tuned on the
Violaceae masks: the thresholds are the config's defaults.

The synthetic section is where the one constant of the ``unmarked`` check was chosen
(``annotation_qc.BLADE_DIVISOR``: unmarked blades count in blocks of radius tolerance / divisor):
synthetic whole-plant sheets (seed 2718, nobody trains on it) with exact masks, the exact masks
degraded the way a registered hand-drawn mask is (a lossy 256×384 copy brought back, scale ±1 %,
shift ±0.6 % of the long side, edge −1 to +2 px) and the degraded masks painted in strokes
(70 % and 50 % kept). The divisor is the smallest radius's at which no good mask reaches half the
cut (``unmarked`` < 0.1).

Run: .venv/bin/python benchmarks/annotation_qc.py [--out results/violaceae/annotation_qc]
[--synthetic 16] (~2 min on 2 cores after the registration)
Writes ``<out>/<set>/annotation_qc.csv``, ``<out>/<set>/overlays/`` and ``<out>/results.md``.
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from PIL import Image
from scipy import ndimage as ndi

sys.path.insert(0, str(Path(__file__).resolve().parent))

from violaceae_register import DATA, REPO, register_all  # noqa: E402

import herbseg.stages.annotation_qc as qc  # noqa: E402
from herbseg.config.settings import settings_from  # noqa: E402
from herbseg.io.images import read_mask, write_mask  # noqa: E402
from herbseg.stages.annotation_qc import EXCLUDED, QCSettings, annotation_qc  # noqa: E402
from herbseg.stages.ingest import ingest  # noqa: E402
from herbseg.synth.plant import generate_plant_sheet  # noqa: E402


def schema_defaults() -> dict:
    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
    props = schema["properties"]["annotation_qc"]["properties"]
    return {k: v["default"] for k, v in props.items()}


def plant_faults(registered: Path, out: Path, rng: np.random.Generator) -> dict[str, str]:
    """Faulty copies of a few registered masks; returns {sheet stem: fault}."""
    out.mkdir(parents=True, exist_ok=True)
    masks = sorted(registered.glob("*_mask.png"))
    faults = ["empty", "full", "inverted", "shifted", "paper_block", "strokes"]
    picks = rng.choice(len(masks), len(faults), replace=False)
    planted = {}
    for path in masks:
        write_mask(out / path.name, read_mask(path))
    for fault, i in zip(faults, picks):
        path = masks[i]
        m = read_mask(path)
        h, w = m.shape
        if fault == "empty":
            m = np.zeros_like(m)
        elif fault == "full":
            m = np.ones_like(m)
        elif fault == "inverted":
            m = ~m
        elif fault == "shifted":
            m = np.roll(m, (h // 10, w // 10), axis=(0, 1))
        elif fault == "strokes":
            m = strokes(m, rng, keep=0.7)
        else:  # a block of empty paper a third of the mask's area, where the mask is not
            ys, xs = np.nonzero(~m)
            side = int(np.sqrt(m.sum() / 3))
            y0, x0 = min(h - side, int(np.percentile(ys, 5))), min(w - side, int(xs.max() * 0.7))
            m[y0 : y0 + side, x0 : x0 + side] = True
        write_mask(out / path.name, m)
        planted[path.name.removesuffix("_mask.png")] = fault
    return planted


def strokes(mask: np.ndarray, rng: np.random.Generator, keep: float) -> np.ndarray:
    """``mask`` painted in strokes: a smooth random field keeps ``keep`` of it in patches."""
    h, w = mask.shape
    field = ndi.gaussian_filter(rng.normal(size=(h, w)), max(h, w) / 80)
    return mask & (field > np.quantile(field[mask], 1 - keep))


def registered_like(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """An exact mask as a good registered hand-drawn one: a lossy 256×384 copy brought back,
    scale ±1 %, shift ±0.6 % of the long side, the edge 1 px inside to 2 px outside."""
    h, w = mask.shape
    small = Image.fromarray(mask.astype(np.uint8) * 255).resize((256, 384), Image.Resampling.BOX)
    buf = io.BytesIO()
    small.save(buf, "JPEG", quality=70)
    sx, sy = 1 + rng.uniform(-0.01, 0.01, 2)
    big = Image.open(buf).convert("L").resize((round(w * sx), round(h * sy)))
    out = np.zeros_like(mask)
    hh, ww = min(h, big.size[1]), min(w, big.size[0])
    out[:hh, :ww] = (np.asarray(big) >= 128)[:hh, :ww]
    dy, dx = (rng.uniform(-0.006, 0.006, 2) * max(h, w)).round().astype(int)
    out = np.roll(out, (dy, dx), (0, 1))
    edge = int(rng.integers(-1, 3))
    if edge > 0:
        out = ndi.binary_dilation(out, iterations=edge)
    elif edge < 0:
        out = ndi.binary_erosion(out, iterations=-edge)
    return out


def synthetic_calibration(n: int, settings: QCSettings) -> list[str]:
    """``unmarked`` of good and stroke-painted masks on synthetic plants, per blade divisor."""
    rng = np.random.default_rng(2718)
    kinds = ["herb", "wiry", "rosette", "grass"]
    scores: dict[tuple[str, int], list[float]] = {}
    shipped = qc.BLADE_DIVISOR
    for i in range(n):
        sheet = generate_plant_sheet(2718, 1000, 1500, dpi=150, index=i, kind=kinds[i % 4])
        exact = sheet.mask.astype(bool)
        good = registered_like(exact, rng)
        masks = {"exact": exact, "registered-like": good, "strokes 70 %": strokes(good, rng, 0.7),
                 "strokes 50 %": strokes(good, rng, 0.5)}  # fmt: skip
        for divisor in (5, 3, 2):
            qc.BLADE_DIVISOR = divisor
            for name, m in masks.items():
                row, _ = qc.score_mask(sheet.rgb, m, settings)
                scores.setdefault((name, divisor), []).append(row["unmarked"])
    qc.BLADE_DIVISOR = shipped
    lines = ["", f"Synthetic calibration ({n} sheets, seed 2718): `unmarked`, median / max", ""]
    lines += ["| mask | divisor 5 (radius 2) | 3 (radius 3, shipped) | 2 (radius 5) |"]
    lines += ["|---|---|---|---|"]
    for name in ("exact", "registered-like", "strokes 70 %", "strokes 50 %"):
        cells = [
            f"{np.median(scores[name, d]):.3f} / {np.max(scores[name, d]):.3f}" for d in (5, 3, 2)
        ]
        caught = [np.mean(np.array(scores[name, d]) > 1 - settings.min_score) for d in (5, 3, 2)]
        cells = [f"{c} ({k:.0%} cut)" for c, k in zip(cells, caught)]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def run(name: str, masks: Path, out: Path, settings: QCSettings, log) -> pd.DataFrame:
    manifest, _, _ = ingest(
        str(DATA / "images"), str(masks), out / name / "ingest", checksum=False, log=log
    )
    manifest.to_csv(out / name / "ingest" / "manifest.csv", index=False)
    table = annotation_qc(manifest, settings, out / name / "overlays", log=log)
    table.to_csv(out / name / "annotation_qc.csv", index=False)
    return table


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=REPO / "results" / "violaceae" / "annotation_qc")
    ap.add_argument("--synthetic", type=int, default=16, help="synthetic sheets to calibrate on")
    args = ap.parse_args()
    t0 = time.perf_counter()
    d = schema_defaults()
    settings = settings_from(QCSettings, d, "annotation_qc", mask_class="plant")
    registered = args.out.parent / "registered"
    register_all(registered, log=print)
    rng = np.random.default_rng(7)
    planted = plant_faults(registered / "masks", args.out / "planted_masks", rng)
    tables = {
        "registered": run("registered", registered / "masks", args.out, settings, print),
        "shipped": run("shipped", DATA / "masks", args.out, settings, print),
        "planted": run("planted", args.out / "planted_masks", args.out, settings, print),
    }
    lines = [
        "# Annotation QC on the Violaceae masks",
        "",
        f"Settings (schema defaults, mask_class plant): {d}",
        "",
        "| mask set | masks | excluded | median score |",
        "|---|---|---|---|",
    ]
    for name, t in tables.items():
        n_ex = int((t["status"] == EXCLUDED).sum())
        lines.append(f"| {name} | {len(t)} | {n_ex} | {t['score'].median():.3f} |")
    p = tables["planted"]
    p = p.assign(stem=p["sheet_id"].str.split("__").str[-1]).set_index("stem")
    lines += ["", "Planted faults:", "", "| sheet | fault | score | status | reason |"]
    lines += ["|---|---|---|---|---|"]
    for sheet, fault in planted.items():
        r = p.loc[sheet]
        lines.append(f"| {sheet} | {fault} | {r['score']:.3f} | {r['status']} | {r['reason']} |")
    reg = tables["registered"].sort_values("score")
    lines += ["", "Registered masks, lowest scores:", ""]
    lines += ["| sheet | score | on_paper | missed | unmarked | status | reason |"]
    lines += ["|---|---|---|---|---|---|---|"]
    for r in reg.head(10).itertuples():
        lines.append(
            f"| {r.sheet_id} | {r.score:.3f} | {r.on_paper:.3f} | {r.missed:.3f} | "
            f"{r.unmarked:.3f} | {r.status} | {r.reason} |"
        )
    if args.synthetic:
        lines += synthetic_calibration(args.synthetic, settings)
    lines += ["", f"Wall time {time.perf_counter() - t0:.0f} s."]
    (args.out / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
