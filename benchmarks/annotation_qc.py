"""Annotation QC on the Violaceae masks, as registered and as shipped, plus planted faults.

The 32 registered masks are checked against their sheets with the workflow's own QC
(``herbseg.stages.annotation_qc``, default settings from the schema); so are the masks as shipped
(stretched onto other crops: many must fail) and, as a check that every fault kind is caught,
copies of the registered masks with planted faults: emptied, filled, inverted, shifted by a tenth
of the sheet, and with a block of empty paper added. Nothing here is tuned: the thresholds are the
config's defaults.

Run: .venv/bin/python benchmarks/annotation_qc.py [--out results/violaceae/annotation_qc]
Writes ``<out>/<set>/annotation_qc.csv``, ``<out>/<set>/overlays/`` and ``<out>/results.md``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from violaceae_register import DATA, REPO, register_all  # noqa: E402

from herbseg.config.settings import settings_from  # noqa: E402
from herbseg.io.images import read_mask, write_mask  # noqa: E402
from herbseg.stages.annotation_qc import EXCLUDED, QCSettings, annotation_qc  # noqa: E402
from herbseg.stages.ingest import ingest  # noqa: E402


def schema_defaults() -> dict:
    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
    props = schema["properties"]["annotation_qc"]["properties"]
    return {k: v["default"] for k, v in props.items()}


def plant_faults(registered: Path, out: Path, rng: np.random.Generator) -> dict[str, str]:
    """Faulty copies of a few registered masks; returns {sheet stem: fault}."""
    out.mkdir(parents=True, exist_ok=True)
    masks = sorted(registered.glob("*_mask.png"))
    faults = ["empty", "full", "inverted", "shifted", "paper_block"]
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
        else:  # a block of empty paper a third of the mask's area, where the mask is not
            ys, xs = np.nonzero(~m)
            side = int(np.sqrt(m.sum() / 3))
            y0, x0 = min(h - side, int(np.percentile(ys, 5))), min(w - side, int(xs.max() * 0.7))
            m[y0 : y0 + side, x0 : x0 + side] = True
        write_mask(out / path.name, m)
        planted[path.name.removesuffix("_mask.png")] = fault
    return planted


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
    lines += ["", "Registered masks, lowest scores:", "", "| sheet | score | status | reason |"]
    lines += ["|---|---|---|---|"]
    for r in reg.head(8).itertuples():
        lines.append(f"| {r.sheet_id} | {r.score:.3f} | {r.status} | {r.reason} |")
    lines += ["", f"Wall time {time.perf_counter() - t0:.0f} s."]
    (args.out / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
