"""Per-sheet leaf area and per-leaf traits in the sheet's own geometry, in mm where scale is known.

Predicted masks may be written smaller than the sheet (``predict.long_side``); everything here is
converted back to sheet pixels so figures never depend on that setting.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from herbseg.images import SheetError, load_rgb, read_mask
from herbseg.postprocess import PostprocessSettings, clean
from herbseg.progress import Progress
from herbseg.scale import Scale, resolve_scale
from herbseg.traits import IntactRule, leaf_traits, sheet_summary

SHEET_COLUMNS = [
    "sheet_id", "path", "status", "error", "width", "height", "leaf_px", "leaf_fraction",
    "n_leaves", "n_intact", "px_per_mm", "scale_source", "scale_confidence", "leaf_area_mm2",
    "median_intact_leaf_area_mm2", "median_intact_leaf_length_mm", "predicted_mask", "shard",
]  # fmt: skip
TRAIT_COLUMNS = [
    "sheet_id", "leaf_id", "area_px", "area_mm2", "perimeter_px", "perimeter_mm", "length_px",
    "length_mm", "width_px", "width_mm", "solidity", "eccentricity", "bbox", "centroid_x",
    "centroid_y", "touches_edge", "intact",
]  # fmt: skip


@dataclass
class MeasureSettings:
    """What a user may tune; ``min_leaf_px`` is in sheet pixels, whatever the mask size."""

    min_leaf_px: int = 200
    min_solidity: float = 0.80
    max_area_fraction: float = 0.25
    exclude_edge: bool = True
    ruler: bool = True
    min_ruler_confidence: float = 0.6
    ruler_long_side: int = 2000
    min_dpi: float = 100.0
    ignore_dpi: tuple[float, ...] = field(default=(72.0, 96.0))
    # The config's `postprocess:` clean-up; `min_leaf_px` is applied through it as well.
    postprocess: PostprocessSettings = field(default_factory=PostprocessSettings)


def _float(v) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if np.isnan(f) else f


def sheet_scale(row: dict, table_value: float | None, s: MeasureSettings) -> Scale:
    """Resolve px/mm of the sheet's own pixels; the ruler is only looked for when needed."""
    rgb = None
    if table_value is None and s.ruler:
        w, h = int(row["width"]), int(row["height"])
        f = min(1.0, s.ruler_long_side / max(w, h))
        try:
            rgb = load_rgb(row["path"], min_size=(max(1, round(w * f)), max(1, round(h * f))))
        except SheetError:
            rgb = None
    scale = resolve_scale(
        table_value=table_value,
        rgb=rgb,
        dpi_x=_float(row.get("dpi_x")),
        dpi_y=_float(row.get("dpi_y")),
        ruler_enabled=s.ruler,
        min_ruler_confidence=s.min_ruler_confidence,
        min_dpi=s.min_dpi,
        ignore_dpi=s.ignore_dpi,
    )
    if scale.source == "ruler" and rgb is not None and scale.px_per_mm:
        # the ruler was found on a reduced decode: bring it back to the sheet's own pixels
        return Scale(scale.px_per_mm * int(row["width"]) / rgb.shape[1], "ruler", scale.confidence)
    return scale


def measure_sheet(
    row: dict, pred: dict, table_value: float | None, s: MeasureSettings
) -> tuple[dict, pd.DataFrame]:
    """Measure one predicted mask; returns the sheet row and its leaves."""
    mask = read_mask(pred["mask_path"])
    sheet_w, sheet_h = int(row["width"]), int(row["height"])
    f = mask.shape[1] / sheet_w  # mask pixels per sheet pixel
    min_px = max(1, round(s.min_leaf_px * f * f))
    mask = clean(mask, s.postprocess.with_min_component(s.min_leaf_px), scale=f)
    scale = sheet_scale(row, table_value, s)
    mask_ppm = scale.px_per_mm * f if scale.px_per_mm else None
    rule = IntactRule(
        min_area_px=min_px,
        min_solidity=s.min_solidity,
        max_area_fraction=s.max_area_fraction,
        exclude_edge=s.exclude_edge,
    )
    leaves = leaf_traits(mask, mask_ppm, rule)
    summary = sheet_summary(leaves)
    leaf_mask_px = int(mask.sum())
    out = {
        "width": sheet_w,
        "height": sheet_h,
        "leaf_px": round(leaf_mask_px / (f * f)),
        "leaf_fraction": leaf_mask_px / mask.size,
        "n_leaves": summary["n_leaves"],
        "n_intact": summary["n_intact"],
        "px_per_mm": scale.px_per_mm,
        "scale_source": scale.source,
        "scale_confidence": scale.confidence,
        "leaf_area_mm2": leaf_mask_px / (mask_ppm * mask_ppm) if mask_ppm else None,
        "median_intact_leaf_area_mm2": summary["median_intact_area_mm2"],
        "median_intact_leaf_length_mm": summary["median_intact_length_mm"],
        "predicted_mask": pred["mask_path"],
    }
    # Pixel columns in the sheet's own pixels, so they stay usable when the sheet has no scale.
    leaves = leaves.assign(
        area_px=(leaves["area_px"] / (f * f)).round().astype(int),
        **{c: leaves[c] / f for c in ("perimeter_px", "length_px", "width_px")},
    )
    leaves.insert(0, "sheet_id", row["sheet_id"])
    return out, leaves


def measure_shard(
    rows: pd.DataFrame,
    predictions: pd.DataFrame,
    *,
    scale_table: dict[str, float] | None = None,
    scale_key: str = "sheet_id",
    settings: MeasureSettings | None = None,
    log: Callable[[str], None] = print,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Measure every sheet of a shard: one output row per input row, errors included."""
    s = settings or MeasureSettings()
    preds = predictions.set_index("sheet_id").to_dict("index")
    extras = [
        c
        for c in rows.columns
        if c not in SHEET_COLUMNS
        and c not in ("bytes", "mode", "dpi_x", "dpi_y", "has_mask", "sha256", "mask_path")
    ]
    sheets, leaves = [], []
    progress = Progress(len(rows), log, "measured")
    for row in rows.to_dict("records"):
        pred = preds.get(row["sheet_id"], {"status": "error", "error": "not predicted"})
        base = {
            "sheet_id": row["sheet_id"],
            "path": row["path"],
            "status": row["status"],
            "error": row["error"],
            "shard": row.get("shard", ""),
        } | {c: row[c] for c in extras}
        if row["status"] == "ok" and pred["status"] != "ok":
            base.update(status=pred["status"], error=pred["error"])
        if base["status"] == "ok":
            table_value = (scale_table or {}).get(str(row.get(scale_key, "")))
            try:
                measured, sheet_leaves = measure_sheet(row, pred, table_value, s)
                base.update(measured)
                leaves.append(sheet_leaves)
            except SheetError as exc:
                base.update(status="error", error=f"mask unreadable: {exc.reason}")
        else:
            base.update(width=row.get("width"), height=row.get("height"))
        sheets.append(base)
        progress.update()
    sheet_table = pd.DataFrame(sheets).reindex(columns=SHEET_COLUMNS + extras)
    leaf_table = pd.concat(leaves, ignore_index=True) if leaves else pd.DataFrame()
    leaf_table = leaf_table.reindex(columns=TRAIT_COLUMNS)
    log(
        f"measured {int((sheet_table['status'] == 'ok').sum())}/{len(sheet_table)} sheets, "
        f"{len(leaf_table)} leaves"
    )
    return sheet_table, leaf_table
