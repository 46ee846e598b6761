"""Per-sheet leaf area and per-leaf traits in the sheet's own geometry, in mm where scale is known.

Predicted masks may be written smaller than the sheet (``predict.long_side``); everything here is
converted back to sheet pixels so figures never depend on that setting.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from herbseg.config.settings import settings_from
from herbseg.io.files import write_csv
from herbseg.io.images import SheetError, load_rgb, read_mask
from herbseg.io.progress import Progress
from herbseg.io.tables import SHEET_COLUMNS, TRAIT_COLUMNS, read_table, with_counts_whole
from herbseg.measurement.intact_choice import apply_verdicts
from herbseg.measurement.postprocess import PostprocessSettings, clean
from herbseg.measurement.scale import Scale, load_scale_table, resolve_scale
from herbseg.measurement.traits import IntactRule, leaf_traits, sheet_summary


@dataclass(frozen=True)
class MeasureSettings:
    """The ``measure:`` config section, with the ``postprocess:`` clean-up nested (see
    :func:`measure_settings`); ``min_leaf_px`` is in sheet pixels, whatever the mask size."""

    min_leaf_px: int = 200
    min_solidity: float = 0.80
    max_area_fraction: float = 0.25
    exclude_edge: bool = True
    ruler: bool = True
    min_ruler_confidence: float = 0.6
    ruler_long_side: int = 2000
    min_dpi: float = 100.0
    ignore_dpi: tuple[float, ...] = field(default=(72.0, 96.0))
    scale_table: str | None = None  # CSV of key,px_per_mm (the rule's input when set)
    scale_key: str = "sheet_id"
    # The config's `postprocess:` clean-up; `min_leaf_px` is applied through it as well.
    postprocess: PostprocessSettings = field(
        default_factory=PostprocessSettings, metadata={"config": "postprocess"}
    )


def measure_settings(measure: dict | None, postprocess: dict | None) -> MeasureSettings:
    """From the config's ``measure:`` and ``postprocess:`` sections (the classify stage cuts the
    same components, so it builds its measure settings here too)."""
    cleanup = settings_from(PostprocessSettings, postprocess, "postprocess")
    return settings_from(MeasureSettings, measure, "measure", postprocess=cleanup)


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
    if rgb is not None and scale.detection is not None:
        # the scale was found on a reduced decode: bring it back to the sheet's own pixels
        found = scale.detection.scaled(int(row["width"]) / rgb.shape[1])
        px = found.px_per_mm if scale.source == "ruler" else scale.px_per_mm
        return Scale(px, scale.source, scale.confidence, found, scale.note)
    return scale


def scale_columns(scale: Scale) -> dict:
    """The sheet table's record of a scale: its kind, orientation and the span it was read over.

    ``scale_line`` is ``x0 y0 x1 y1`` in sheet pixels, so the report can draw the cm marks on a
    crop (:mod:`herbseg.reporting.scale_evidence`) without running detection again.
    """
    found = scale.detection
    return {
        "px_per_mm": scale.px_per_mm,
        "scale_source": scale.source,
        "scale_confidence": scale.confidence,
        "scale_kind": found.kind if found else "",
        "scale_orientation": found.orientation if found else "",
        "scale_found_px_per_mm": found.px_per_mm if found else None,
        "scale_span_px": round(found.span_px, 1) if found else None,
        "scale_line": " ".join(f"{v:.1f}" for v in (*found.start, *found.end)) if found else "",
        "scale_note": scale.note,
    }


class MasksMissing(RuntimeError):
    """Predict reported masks that are not on disk: its outputs were removed under it."""


def require_masks(predictions: pd.DataFrame) -> None:
    """Stop when a mask predict reported is gone, instead of measuring it as an error row.

    Snakemake deletes a job's outputs when the job starts; a run interrupted during a *forced*
    predict (``--forcerun predict``) and rerun without the same ``--forcerun`` finds the later
    stages' older outputs up to date and never writes those masks again. Measuring then would
    turn every such sheet into a silent "mask unreadable" row.
    """
    ok = predictions[predictions["status"] == "ok"]
    gone = [p for p in ok["mask_path"] if not Path(p).is_file()]
    if gone:
        raise MasksMissing(
            f"{len(gone)} of {len(ok)} masks that predict reported are missing (first: {gone[0]}); "
            "a run was interrupted while predict was forced to rerun: rerun the same command "
            "(e.g. snakemake --forcerun predict --rerun-incomplete)"
        )


def cleaned_mask(row: dict, pred: dict, s: MeasureSettings) -> tuple[np.ndarray, float, int]:
    """The predicted mask as measured: cleaned, with mask px per sheet px and the speck limit.

    The classify stage calls this too, so its components (and leaf ids) are the measured ones.
    """
    mask = read_mask(pred["mask_path"])
    f = mask.shape[1] / int(row["width"])  # mask pixels per sheet pixel
    min_px = max(1, round(s.min_leaf_px * f * f))
    return clean(mask, s.postprocess.with_min_component(s.min_leaf_px), scale=f), f, min_px


def measure_sheet(
    row: dict,
    pred: dict,
    table_value: float | None,
    s: MeasureSettings,
    verdicts: pd.DataFrame | None = None,
) -> tuple[dict, pd.DataFrame]:
    """Measure one predicted mask; returns the sheet row and its leaves.

    ``verdicts`` (the classify stage's rows of this sheet) replace the rule's ``intact``.
    """
    sheet_w, sheet_h = int(row["width"]), int(row["height"])
    mask, f, min_px = cleaned_mask(row, pred, s)
    scale = sheet_scale(row, table_value, s)
    mask_ppm = scale.px_per_mm * f if scale.px_per_mm else None
    rule = IntactRule(
        min_area_px=min_px,
        min_solidity=s.min_solidity,
        max_area_fraction=s.max_area_fraction,
        exclude_edge=s.exclude_edge,
    )
    leaves = apply_verdicts(leaf_traits(mask, mask_ppm, rule), verdicts, rule, mask.shape)
    summary = sheet_summary(leaves)
    leaf_mask_px = int(mask.sum())
    out = {
        "width": sheet_w,
        "height": sheet_h,
        "leaf_px": round(leaf_mask_px / (f * f)),
        "leaf_fraction": leaf_mask_px / mask.size,
        "n_leaves": summary["n_leaves"],
        "n_intact": summary["n_intact"],
        **scale_columns(scale),
        "leaf_area_mm2": leaf_mask_px / (mask_ppm * mask_ppm) if mask_ppm else None,
        "median_intact_leaf_area_mm2": summary["median_intact_area_mm2"],
        "median_intact_leaf_length_mm": summary["median_intact_length_mm"],
        "mask_doubt": pred.get("mask_doubt", ""),  # blank in a table from before it existed
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
    verdicts: pd.DataFrame | None = None,
    threads: int = 1,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Measure every sheet of a shard: one output row per input row, in order, errors included.

    ``verdicts`` is the classify stage's table (``sheet_id, leaf_id, intact_prob, intact``); with
    it, ``intact`` is the classifier's, else the rule's; ``intact_by`` says which.
    """
    s = settings or MeasureSettings()
    require_masks(predictions)
    by_sheet = dict(tuple(verdicts.groupby("sheet_id"))) if verdicts is not None else None
    preds = predictions.set_index("sheet_id").to_dict("index")
    extras = [
        c
        for c in rows.columns
        if c not in SHEET_COLUMNS
        and c not in ("bytes", "mode", "dpi_x", "dpi_y", "has_mask", "sha256", "mask_path")
    ]

    def one(row: dict) -> tuple[dict, pd.DataFrame | None]:
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
        if base["status"] != "ok":
            base.update(width=row.get("width"), height=row.get("height"))
            return base, None
        table_value = (scale_table or {}).get(str(row.get(scale_key, "")))
        try:
            sheet_verdicts = None
            if by_sheet is not None:
                sheet_verdicts = by_sheet.get(row["sheet_id"], verdicts.iloc[:0])
            measured, sheet_leaves = measure_sheet(row, pred, table_value, s, sheet_verdicts)
        except SheetError as exc:
            base.update(status="error", error=f"mask unreadable: {exc.reason}")
            return base, None
        base.update(measured)
        return base, sheet_leaves

    sheets, leaves = [], []
    progress = Progress(len(rows), log, "measured")
    # Sheets in parallel threads, in order: decoding masks and sheets, labelling and the scale's
    # FFTs run in C with the GIL released, so a job uses the cores its rule was given.
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        for base, sheet_leaves in pool.map(one, rows.to_dict("records")):
            sheets.append(base)
            if sheet_leaves is not None:
                leaves.append(sheet_leaves)
            progress.update()
    sheet_table = pd.DataFrame(sheets).reindex(columns=SHEET_COLUMNS + extras)
    leaf_table = pd.concat(leaves, ignore_index=True) if leaves else pd.DataFrame()
    leaf_table = leaf_table.reindex(columns=TRAIT_COLUMNS)
    log(
        f"measured {int((sheet_table['status'] == 'ok').sum())}/{len(sheet_table)} sheets, "
        f"{len(leaf_table)} leaves"
    )
    return with_counts_whole(sheet_table), with_counts_whole(leaf_table)


def run(inputs, outputs, params, *, threads: int, log: Callable[[str], None]) -> None:
    """Rule measure: one shard's ``leaf_area.csv`` and ``leaf_traits.csv``."""
    settings = measure_settings(params.measure, params.postprocess)
    table = load_scale_table(inputs.scale_table) if settings.scale_table else None
    verdicts = (
        read_table(inputs.verdicts, "verdicts") if getattr(inputs, "verdicts", None) else None
    )
    sheets, leaves = measure_shard(
        read_table(inputs.sheets, "text"),
        read_table(inputs.predictions, "predictions"),
        scale_table=table,
        scale_key=settings.scale_key,
        settings=settings,
        log=log,
        verdicts=verdicts,
        threads=threads,
    )
    write_csv(sheets, outputs.sheets)
    write_csv(leaves, outputs.leaves)
