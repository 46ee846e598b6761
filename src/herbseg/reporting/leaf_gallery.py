"""Contact sheets of measured leaves: what was kept as intact and what was rejected.

A botanist judges leaf choice by looking at the leaves, not at an F1. Each tile is the sheet's
own colours around one leaf, outlined in the bounding box the leaf was measured in, captioned
``sheet_id:leaf_id`` and the classifier's probability, so a wrong verdict can be written straight
into a labels CSV (``labels_template``) that the next training run uses.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw

from herbseg.io.files import write_csv
from herbseg.io.images import SheetError, load_rgb
from herbseg.io.tables import read_table, read_tables

TILE = 128
CAPTION = 14


def _tile(rgb: np.ndarray, box: tuple[float, float, float, float], colour: tuple) -> Image.Image:
    """The leaf's box in the sheet, squared with a margin, scaled to a tile, box outlined."""
    minr, minc, maxr, maxc = box
    side = max(maxr - minr, maxc - minc) * 1.2 + 4
    cy, cx = (minr + maxr) / 2, (minc + maxc) / 2
    top, left = int(cy - side / 2), int(cx - side / 2)
    side = int(side)
    img = Image.fromarray(rgb).crop((left, top, left + side, top + side)).resize((TILE, TILE))
    k = TILE / side
    ImageDraw.Draw(img).rectangle(
        [(minc - left) * k, (minr - top) * k, (maxc - left) * k, (maxr - top) * k],
        outline=colour,
        width=2,
    )
    return img


def gallery_png(
    leaves: pd.DataFrame,
    rows: pd.DataFrame,
    out: str | Path,
    title: str,
    mask_w: dict[str, float] | None = None,
    max_tiles: int = 60,
    columns: int = 10,
    long_side: int = 1600,
) -> int:
    """Write a contact sheet of ``leaves`` (a leaf_traits table) to ``out``; returns tiles drawn.

    ``mask_w`` maps sheet id to the width of the mask the leaves were measured on (leaf boxes
    are in mask pixels); without it masks are taken to be sheet-sized. Leaves are spread over
    sheets (round robin), so one crowded sheet cannot fill the page.
    """
    paths = rows.set_index("sheet_id")["path"].to_dict()
    widths = rows.set_index("sheet_id")["width"].astype(float).to_dict()
    order = leaves.assign(_k=leaves.groupby("sheet_id").cumcount()).sort_values(
        ["_k", "sheet_id"], kind="stable"
    )
    picked = order.head(max_tiles)
    n = len(picked)
    ncol = max(1, min(columns, n))
    nrow = max(1, -(-n // ncol))
    page = Image.new("RGB", (ncol * TILE, 24 + nrow * (TILE + CAPTION)), "white")
    draw = ImageDraw.Draw(page)
    draw.text((4, 6), f"{title} ({n} of {len(leaves)} leaves shown)", fill="black")
    cache: dict[str, np.ndarray | None] = {}
    for k, leaf in enumerate(picked.itertuples(index=False)):
        sid = leaf.sheet_id
        if sid not in cache:
            try:
                rgb = load_rgb(paths[sid], min_size=(long_side, long_side))
                cache = {sid: rgb}  # one sheet at a time in memory
            except (SheetError, KeyError):
                cache = {sid: None}
        rgb = cache[sid]
        x, y = (k % ncol) * TILE, 24 + (k // ncol) * (TILE + CAPTION)
        prob = getattr(leaf, "intact_prob", float("nan"))
        label = f"{sid}:{leaf.leaf_id}" + ("" if pd.isna(prob) else f" {prob:.2f}")
        draw.text((x + 2, y + TILE), label[-22:], fill="black")
        if rgb is None:
            continue
        f = rgb.shape[1] / ((mask_w or {}).get(sid) or widths.get(sid) or rgb.shape[1])
        box = tuple(float(v) * f for v in str(leaf.bbox).split(","))
        colour = (20, 150, 40) if bool(leaf.intact) else (200, 30, 30)
        page.paste(_tile(rgb, box, colour), (x, y))
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    page.save(out)
    return n


def labels_template(leaves: pd.DataFrame) -> pd.DataFrame:
    """Every leaf's current verdict as a labels CSV a person corrects (``intact`` yes/no)."""
    prob = leaves["intact_prob"] if "intact_prob" in leaves else np.nan
    return pd.DataFrame(
        {
            "sheet_id": leaves["sheet_id"],
            "leaf_id": leaves["leaf_id"],
            "intact": np.where(leaves["intact"].astype(bool), "yes", "no"),
            "intact_prob": prob,
            "intact_by": leaves.get("intact_by", "rule"),
        }
    )


def run(inputs, outputs, params, *, threads: int, log: Callable[[str], None]) -> None:
    """Rule leaf_gallery: contact sheets of the kept and rejected leaves of a seeded sample of
    sheets, and every verdict as a labels CSV to correct."""
    leaves = read_table(inputs.leaves, "leaves")
    rows = read_table(inputs.manifest, "text")
    rows = rows[rows["status"] == "ok"]
    preds = read_tables(inputs.predictions, "predictions")
    mask_w = dict(zip(preds["sheet_id"], pd.to_numeric(preds["mask_w"], errors="coerce")))
    sample = rows["sheet_id"].sample(n=min(len(rows), 12), random_state=params.report["seed"])
    chosen = leaves[leaves["sheet_id"].isin(set(sample))] if len(leaves) else leaves
    if not len(leaves):
        leaves = pd.DataFrame(columns=["sheet_id", "leaf_id", "bbox", "intact", "intact_prob"])
        chosen = leaves
    by = leaves["intact_by"].iloc[0] if "intact_by" in leaves and len(leaves) else "rule"
    for kind, out in (("kept", outputs.kept), ("rejected", outputs.rejected)):
        part = chosen[chosen["intact"].astype(bool) == (kind == "kept")]
        n = gallery_png(part, rows, out, f"{kind} as intact leaves by the {by}", mask_w=mask_w)
        log(f"{kind}: {n} leaves drawn")
    write_csv(labels_template(leaves), outputs.labels)
