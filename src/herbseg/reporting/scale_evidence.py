"""Evidence a person can check: crops of each detected scale with the measured cm marks drawn.

A scale read wrongly corrupts every area of its sheet without any visible symptom in the tables,
so the report shows, for a random sample of scaled sheets and for every sheet whose scale was
refused or only just accepted, the scale itself with the centimetre marks the detector measured.
If the drawn marks sit on the printed ones, the px/mm is right. The sheet table carries what is
needed (``scale_line``, ``scale_found_px_per_mm``), so nothing is detected twice.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw

from herbseg.io.files import write_csv
from herbseg.io.images import SheetError, load_rgb
from herbseg.io.tables import read_table

PROBLEM_COLUMNS = ["kind", "sheet_id", "path", "status", "error"]  # as ingest/problems.csv


def _num(value) -> float | None:
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f


def scale_problems(sheets: pd.DataFrame) -> pd.DataFrame:
    """One row per sheet whose scale was found but refused, in ingest's problems.csv columns.

    These sheets keep their rows (and leaf areas in px); this table says why mm stay empty.
    """
    if "scale_note" not in sheets.columns:
        return pd.DataFrame(columns=PROBLEM_COLUMNS)
    notes = sheets["scale_note"].fillna("").astype(str)
    bad = sheets[notes != ""]
    rows = [
        {
            "kind": "scale",
            "sheet_id": r["sheet_id"],
            "path": r["path"],
            "status": "scale refused",
            "error": r["scale_note"],
        }
        for r in bad.to_dict("records")
    ]
    return pd.DataFrame(rows, columns=PROBLEM_COLUMNS)


def plan_scale_evidence(
    sheets: pd.DataFrame, *, n_sample: int, low_confidence: float, seed: int = 0
) -> list[tuple[str, dict]]:
    """``(reason, row)`` of the sheets to show: ``refused``, ``low-confidence``, ``sample``.

    Every refused and every low-confidence scale is shown (they are the ones to check); the
    sample is drawn from the confidently scaled rest.
    """
    if "scale_line" not in sheets.columns:
        return []
    has = sheets[sheets["scale_line"].fillna("").astype(str) != ""]
    conf = pd.to_numeric(has["scale_confidence"], errors="coerce")
    used = has["scale_source"] == "ruler"
    refused = has[~used]
    low = has[used & (conf < low_confidence)]
    rest = has[used & (conf >= low_confidence)]
    sample = rest.sample(min(n_sample, len(rest)), random_state=seed) if len(rest) else rest
    return (
        [("refused", r) for r in refused.to_dict("records")]
        + [("low-confidence", r) for r in low.to_dict("records")]
        + [("sample", r) for r in sample.sort_values("sheet_id").to_dict("records")]
    )


def draw_scale_evidence(rgb: np.ndarray, row: dict, zoom_to: int = 900) -> Image.Image:
    """A crop around the scale's measured span with the cm marks the detector implies.

    Marks are drawn every 10 mm from the span's start along its direction, at the px/mm that
    was found (used or not); the title says kind, orientation, px/mm, confidence and use.
    """
    x0, y0, x1, y1 = (float(v) for v in str(row["scale_line"]).split())
    ppm = _num(row.get("scale_found_px_per_mm")) or _num(row.get("px_per_mm"))
    h, w = rgb.shape[:2]
    length = math.hypot(x1 - x0, y1 - y0)
    ux, uy = ((x1 - x0) / length, (y1 - y0) / length) if length > 0 else (1.0, 0.0)
    pad = max(20.0, 8.0 * (ppm or 1.0))
    left = int(max(0, min(x0, x1) - pad))
    top = int(max(0, min(y0, y1) - pad))
    right = int(min(w, max(x0, x1) + pad + 1))
    bottom = int(min(h, max(y0, y1) + pad + 1))
    crop = Image.fromarray(np.ascontiguousarray(rgb[top:bottom, left:right, :3]))
    f = zoom_to / max(crop.size)
    crop = crop.resize((max(1, round(crop.width * f)), max(1, round(crop.height * f))), 0)
    draw = ImageDraw.Draw(crop)

    def pt(x: float, y: float) -> tuple[float, float]:
        return ((x - left + 0.5) * f - 0.5, (y - top + 0.5) * f - 0.5)

    # the marks: a short cross-line every cm, across the scale's direction
    nx, ny = -uy, ux
    half = 4.0 * (ppm or 1.0)
    n_cm = int(length / (10 * ppm) + 0.25) if ppm else 0
    for k in range(n_cm + 1):
        cx, cy = x0 + ux * 10 * k * ppm, y0 + uy * 10 * k * ppm
        draw.line([pt(cx - nx * half, cy - ny * half), pt(cx + nx * half, cy + ny * half)],
                  fill=(255, 0, 255), width=2)  # fmt: skip
        tx, ty = pt(cx + nx * half * 1.3, cy + ny * half * 1.3)
        draw.text((tx, ty), str(k), fill=(255, 0, 255))
    draw.line([pt(x0, y0), pt(x1, y1)], fill=(0, 200, 255), width=1)
    used = "used" if row.get("scale_source") == "ruler" else "REFUSED"
    conf = _num(row.get("scale_confidence")) if used == "used" else None
    note = str(row.get("scale_note") or "")
    title = (
        f"{row['sheet_id']}: {row.get('scale_kind')} {row.get('scale_orientation')}, "
        f"{ppm:.3f} px/mm, " + (f"confidence {conf:.2f}, {used}" if conf is not None else used)
    )
    canvas = Image.new("RGB", (max(crop.width, 640), crop.height + 34), "white")
    canvas.paste(crop, (0, 34))
    text = ImageDraw.Draw(canvas)
    text.text((4, 2), title, fill="black")
    text.text((4, 16), note[:140] or "magenta: 1 cm marks at the measured px/mm", fill="black")
    return canvas


def _rescaled(row: dict, f: float) -> dict:
    """The row's scale geometry in an image ``f`` times the measured size."""
    line = " ".join(f"{float(v) * f:.1f}" for v in str(row["scale_line"]).split())
    out = dict(row, scale_line=line)
    for key in ("scale_found_px_per_mm", "px_per_mm"):
        if _num(row.get(key)) is not None:
            out[key] = _num(row[key]) * f
    return out


def write_scale_evidence(
    plan: list[tuple[str, dict]], out_dir: str | Path, log=print
) -> list[Path]:
    """Write ``<reason>/<sheet>.png`` for each planned sheet; unreadable sheets are logged."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for reason, row in plan:
        try:
            rgb = load_rgb(row["path"])
        except SheetError as exc:
            log(f"{row['sheet_id']}: not drawn, {exc.reason}")
            continue
        f = rgb.shape[1] / float(row["width"])
        if abs(f - 1) > 1e-6:  # decoded at another size than measured (max_megapixels)
            row = _rescaled(row, f)
        path = out_dir / reason / f"{row['sheet_id']}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        draw_scale_evidence(rgb, row).save(path)
        written.append(path)
    log(f"{len(written)} scale evidence crops in {out_dir}")
    return written


def run(inputs, outputs, params, *, threads: int, log: Callable[[str], None]) -> None:
    """Rule scale_evidence: the refused-scale problem table and the crops (``leaf_area.csv`` read
    as text: its rows are printed, not computed on)."""
    sheets = read_table(inputs.leaf_area, "text")
    write_csv(scale_problems(sheets), outputs.problems)
    p = params.report
    plan = plan_scale_evidence(
        sheets,
        n_sample=p["n_scale_sample"],
        low_confidence=p["scale_low_confidence"],
        seed=p["seed"],
    )
    write_scale_evidence(plan, outputs.crops, log=log)
