"""Where a sheet's pixels-per-millimetre comes from.

Leaf measurements in mm are only as good as the scale, so every sheet records where its scale
came from (``Scale.source``) and how sure we are. The priority is fixed:

1. ``table``: a curator-supplied value per sheet or per collection (``load_scale_table``); a
   person measured it, so it beats anything inferred.
2. ``ruler``: a scale drawn on the sheet (:mod:`herbseg.measurement.scale_detect`: a mm tick
   ruler, :mod:`herbseg.measurement.ruler`, or a checker strip), used only when its confidence
   reaches a threshold, because a wrong scale is worse than no scale.
3. ``dpi``: the file's resolution tag, but only a plausible one. 72 and 96 dpi are software
   defaults written by editors and cameras, not measurements, and are ignored.
4. ``none``: mm traits stay empty.
"""

from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from herbseg.measurement.scale_detect import Detection, detect_scale

MM_PER_INCH = 25.4


@dataclass(frozen=True)
class Scale:
    """A sheet's scale and its provenance.

    ``confidence`` is 0..1 for a detected ruler, 1.0 for the table and dpi (they are either right
    or wrong, not uncertain) and ``None`` when there is no scale.
    """

    px_per_mm: float | None
    source: str  # "table" | "ruler" | "dpi" | "none"
    confidence: float | None
    # the detected scale (kind, orientation, span), for the evidence crop: the one used when
    # source is "ruler", else one found but refused (see ``note``)
    detection: Detection | None = None
    # why a scale found on the sheet was not used (confidence below the threshold), else ""
    note: str = ""


# --------------------------------------------------------------------------------------------
# table and dpi
# --------------------------------------------------------------------------------------------


def _positive_finite(value: float) -> bool:
    return math.isfinite(value) and value > 0


def load_scale_table(path: str | os.PathLike) -> dict[str, float]:
    """Read a ``key,px_per_mm`` CSV into a lookup.

    A key is a sheet id or a value of a manifest column (e.g. an institution), so one row can set
    the scale of a whole collection scanned on one device. Bad rows raise instead of being
    skipped: a silently dropped row would silently fall back to a worse scale source.
    """
    path = Path(path)
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        fields = [f.strip() for f in (reader.fieldnames or [])]
        missing = {"key", "px_per_mm"} - set(fields)
        if missing:
            raise ValueError(
                f"{path}: scale table needs columns key, px_per_mm; missing {sorted(missing)}"
            )
        table: dict[str, float] = {}
        for lineno, row in enumerate(reader, start=2):
            row = {(k or "").strip(): (v or "").strip() for k, v in row.items() if k is not None}
            key, raw = row.get("key", ""), row.get("px_per_mm", "")
            if not key and not raw:
                continue  # blank line
            if not key:
                raise ValueError(f"{path}:{lineno}: empty key")
            try:
                value = float(raw)
            except ValueError:
                raise ValueError(f"{path}:{lineno}: px_per_mm {raw!r} is not a number") from None
            if not _positive_finite(value):
                raise ValueError(f"{path}:{lineno}: px_per_mm must be > 0, got {raw!r}")
            if key in table and table[key] != value:
                raise ValueError(
                    f"{path}:{lineno}: key {key!r} listed twice with different px_per_mm "
                    f"({table[key]:g} and {value:g})"
                )
            table[key] = value
    return table


def dpi_px_per_mm(
    dpi_x: float | None,
    dpi_y: float | None,
    min_dpi: float = 100,
    max_dpi: float = 4800,
    ignore: tuple[float, ...] = (72.0, 96.0),
) -> float | None:
    """Turn a resolution tag into px/mm, or ``None`` when the tag is not a measurement.

    Editors and cameras write 72 or 96 dpi regardless of the real resolution, values outside
    ``[min_dpi, max_dpi]`` are not flatbed or copy-stand scans, and unequal x/y resolution means a
    resampled or anamorphic image whose single px/mm would be wrong in one direction.
    """
    if dpi_x is None or dpi_y is None:
        return None
    try:
        x, y = float(dpi_x), float(dpi_y)
    except (TypeError, ValueError):
        return None
    if not (_positive_finite(x) and _positive_finite(y)):
        return None
    if abs(x - y) > 0.01 * max(x, y):
        return None
    dpi = (x + y) / 2
    if any(abs(dpi - v) < 0.5 for v in ignore):
        return None
    if not (min_dpi <= dpi <= max_dpi):
        return None
    return dpi / MM_PER_INCH


# --------------------------------------------------------------------------------------------
# resolution
# --------------------------------------------------------------------------------------------


def resolve_scale(
    *,
    table_value: float | None,
    rgb: np.ndarray | None,
    dpi_x: float | None,
    dpi_y: float | None,
    ruler_enabled: bool = True,
    min_ruler_confidence: float = 0.6,
    min_dpi: float = 100,
    max_dpi: float = 4800,
    ignore_dpi: tuple[float, ...] = (72.0, 96.0),
    approx_px_per_mm: tuple[float, float] = (1.2, 60.0),
) -> Scale:
    """Pick a sheet's scale by the fixed priority table > ruler > dpi > none.

    The ruler is only searched when no table value exists, because detection costs ~0.5 s of
    CPU per 6 MP sheet and a curated value wins anyway. "ruler" is any kind of scale drawn on
    the sheet (:func:`herbseg.measurement.scale_detect.detect_scale`: tick rulers, checker
    strips). One below ``min_ruler_confidence`` is dropped, not used, since a wrong scale is
    worse than the dpi tag or no scale; ``Scale.note`` then says what was found and why it was
    refused.
    """
    if table_value is not None:
        value = float(table_value)
        if not _positive_finite(value):
            raise ValueError(f"table px_per_mm must be > 0, got {table_value!r}")
        return Scale(value, "table", 1.0)
    note, found = "", None
    if ruler_enabled and rgb is not None:
        found = detect_scale(rgb, approx_px_per_mm)
        if found is not None and found.confidence >= min_ruler_confidence:
            return Scale(float(found.px_per_mm), "ruler", float(found.confidence), found)
        if found is not None:
            note = (
                f"{found.kind} scale ({found.orientation}, {found.px_per_mm:.3f} px/mm) found "
                f"with confidence {found.confidence:.2f} < measure.min_ruler_confidence "
                f"{min_ruler_confidence:g}: not used"
            )
    # a refused detection is kept (with its note) so the report can show what was refused
    dpi = dpi_px_per_mm(dpi_x, dpi_y, min_dpi=min_dpi, max_dpi=max_dpi, ignore=ignore_dpi)
    if dpi is not None:
        return Scale(dpi, "dpi", 1.0, found, note)
    return Scale(None, "none", None, found, note)
