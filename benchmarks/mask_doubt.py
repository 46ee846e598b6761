"""Does ``mask_doubt`` point at the bad masks? Sheets ranked by doubt against their real error.

``mask_doubt`` (``herbseg.model.masks.mask_doubt``, a column of ``leaf_area.csv``) is the share of
a sheet's plant its network was unsure of. The report draws the most doubtful sheets so a person
checks those first; without it they would check a random sample. Per collection, and pooled:
Spearman's rank correlation of doubt with the sheet's error (1 − IoU), and of the worst quarter
of the sheets by IoU, how many the most doubtful quarter holds, beside what a random quarter
holds on average (the naive way, k²/n): their ratio is how much sooner checking by doubt finds
the bad masks.

Each ``--table NAME=CSV[,CSV]`` is one collection: a table with ``sheet_id``, ``mask_doubt``
and ``iou`` (``synth_plant_heldout.py``'s ``per_sheet_thin_auto.csv``), or two joined on
``sheet_id``, doubt from the first and IoU from the second (``lm2_overlays.py``'s
``thin_auto/leaf_area.csv`` and ``lm2_reference.py``'s ``comparison.csv``).

Run (the validation collections, as in BENCHMARKS.md "Which masks to check first"):
    PYTHONPATH=src .venv/bin/python benchmarks/mask_doubt.py \\
        --table 5150=V/per_sheet_thin_auto.csv wiry=W/per_sheet_thin_auto.csv \\
        photos=P/per_sheet_thin_auto.csv --out OUT
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
from scipy.stats import spearmanr


def collection(spec: str) -> tuple[str, pd.DataFrame]:
    """``NAME=CSV[,CSV]`` as ``(name, table of sheet_id, mask_doubt, error)``."""
    name, paths = spec.split("=", 1)
    parts = [pd.read_csv(p, dtype={"sheet_id": str}) for p in paths.split(",")]
    table = parts[0]
    if len(parts) == 2:
        table = parts[0][["sheet_id", "mask_doubt"]].merge(parts[1], on="sheet_id")
    table = table.assign(error=1 - table["iou"])[["sheet_id", "mask_doubt", "error"]]
    return name, table.dropna()


def ranking(table: pd.DataFrame) -> dict:
    """Spearman's rho, and the worst quarter found in the most doubtful quarter against chance."""
    n = len(table)
    k = max(1, round(n / 4))
    worst = set(table.nlargest(k, "error")["sheet_id"])
    doubtful = set(table.nlargest(k, "mask_doubt")["sheet_id"])
    chance = k * k / n
    found = len(worst & doubtful)
    return {"sheets": n, "spearman": spearmanr(table["mask_doubt"], table["error"])[0],
            "k": k, "worst_found": found, "random_expected": chance,
            "ratio": found / chance}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--table", nargs="+", required=True, help="NAME=CSV[,CSV]")
    ap.add_argument("--pool", nargs="+", help="names pooled into one ranking (default: all)")
    ap.add_argument("--out", type=Path, help="folder for results.md and the joined tables")
    args = ap.parse_args()
    tables = dict(collection(s) for s in args.table)
    rows = [{"collection": name} | ranking(t) for name, t in tables.items()]
    pool = args.pool if args.pool is not None else list(tables)
    if len(pool) > 1:
        pooled = pd.concat(
            [tables[n].assign(sheet_id=n + "/" + tables[n]["sheet_id"]) for n in pool]
        )
        rows.append({"collection": "pooled: " + " + ".join(pool)} | ranking(pooled))
    result = pd.DataFrame(rows)
    md = (
        "| collection | sheets | Spearman (doubt, 1 − IoU) | worst quarter in the most doubtful "
        "quarter | a random quarter (expected) | ratio |\n|---|---|---|---|---|---|\n"
    )
    for r in result.itertuples():
        md += (f"| {r.collection} | {r.sheets} | {r.spearman:.2f} | {r.worst_found} of {r.k} | "
               f"{r.random_expected:.2f} | {r.ratio:.1f}× |\n")  # fmt: skip
    print(md)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "results.md").write_text(md)
        for name, t in tables.items():
            t.to_csv(args.out / f"{name}.csv", index=False)


if __name__ == "__main__":
    main()
