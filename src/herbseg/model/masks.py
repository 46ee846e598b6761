"""From a probability map on a sheet's mask grid to the written mask and its predictions row.

Shared by whole-frame prediction (:mod:`herbseg.stages.predict`) and tiled prediction
(:mod:`herbseg.model.tiles`), so the threshold, the colour refinement of the outline, the doubt
and the table row cannot drift apart between the two.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from herbseg.io.images import write_mask
from herbseg.io.tables import mask_row
from herbseg.measurement.glued_pictures import drop_pictures
from herbseg.measurement.refine import RefineSettings, refine_edges
from herbseg.measurement.scale_cards import drop_cards
from herbseg.measurement.sheet_region import sheet_region
from herbseg.measurement.small_sheet import small_sheet

# Probabilities strictly between these are the network's coin flips: not plant, not paper.
UNSURE = (0.2, 0.8)


def mask_doubt(prob: np.ndarray) -> float:
    """The share of a sheet's plant the network was unsure of: pixels of ``prob`` (on the
    network's own grid: the frame, or the tiled working grid) strictly inside :data:`UNSURE`,
    over those pixels plus the ones at or above 0.5; 0 where there are neither.

    Why: a collection of a million sheets is checked by eye a few sheets at a time, and without
    labels nothing else says which masks to look at first. A mask the network drew with
    confidence can still be wrong (a steel washer taken for a leaf), but where it was unsure the
    mask often is: on the validation collections the per-sheet doubt ranks the sheets by IoU
    error with Spearman 0.64 (BENCHMARKS.md, "Which masks to check first"). A sparse, wiry plant
    scores high, since most of its pixels are outline: such sheets are also where masks are worst.
    The report draws the most doubtful sheets (``report.n_doubtful``).
    """
    lo, hi = UNSURE
    unsure = (prob > lo) & (prob < hi)
    counted = int(np.count_nonzero(unsure | (prob >= 0.5)))
    return float(np.count_nonzero(unsure)) / counted if counted else 0.0


def write_prediction(
    prob: np.ndarray,
    sheet_id: str,
    out_dir: Path,
    sheet_size: tuple[int, int],
    *,
    threshold: float,
    band: int = 0,
    refine: RefineSettings | None = None,
    sheet_rgb: Callable[[], np.ndarray | None] | None = None,
    doubt: float | None = None,
) -> tuple[dict, bool]:
    """Threshold ``prob`` (``h×w``, the mask's grid), re-decide its outline by the sheet's colours
    within ``band`` pixels when ``band`` > 0 and ``sheet_rgb()`` gives the sheet on that grid (None:
    it cannot be read, keep the network's mask), clear what lies beyond the sheet's paper there
    (``refine.sheet_only``: the table or scanner lid around a photographed sheet;
    :mod:`herbseg.measurement.sheet_region`), the parts lying in pictures glued to the sheet
    (``refine.drop_pictures``: :mod:`herbseg.measurement.glued_pictures`) and what it marks on
    scale cards, colour bars and barcodes (``refine.drop_cards``:
    :mod:`herbseg.measurement.scale_cards`), write
    ``<out_dir>/<sheet_id>.png``.

    Returns the predictions-table row (with ``doubt``, :func:`mask_doubt` of the network's own
    grid, which ``prob`` may not be) and whether the edges were refined.
    """
    mask, refined = prob >= threshold, False
    if band and sheet_rgb is not None:
        rgb = sheet_rgb()
        if rgb is not None:
            mask, refined = refine_edges(prob, rgb, band, threshold, refine)
            region = sheet_region(rgb) if refine is None or refine.sheet_only else None
            if region is not None:
                mask &= region
            pictures = refine is None or refine.drop_pictures
            cards = refine is None or refine.drop_cards
            if (pictures or cards) and mask.any():
                small = small_sheet(rgb)  # found on one small sheet, made once
                if pictures:
                    mask = drop_pictures(mask, small)
                if cards:
                    mask = drop_cards(mask, rgb, small)
    return write_mask_row(mask, sheet_id, out_dir, sheet_size, doubt), refined


def write_mask_row(
    mask: np.ndarray,
    sheet_id: str,
    out_dir: Path,
    sheet_size: tuple[int, int],
    doubt: float | None = None,
) -> dict:
    """Write ``<out_dir>/<sheet_id>.png`` and return its predictions-table row."""
    h, w = mask.shape[:2]
    path = out_dir / f"{sheet_id}.png"
    write_mask(path, mask)
    return mask_row(sheet_id, str(path), w, h, *sheet_size, doubt=doubt)
