"""From a probability map on a sheet's mask grid to the written mask and its predictions row.

Shared by whole-frame prediction (:mod:`herbseg.stages.predict`) and tiled prediction
(:mod:`herbseg.model.tiles`), so the threshold, the colour refinement of the outline and the
table row cannot drift apart between the two.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from herbseg.io.images import write_mask
from herbseg.io.tables import mask_row
from herbseg.measurement.glued_pictures import drop_pictures
from herbseg.measurement.refine import RefineSettings, refine_edges
from herbseg.measurement.sheet_region import sheet_region


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
) -> tuple[dict, bool]:
    """Threshold ``prob`` (``h×w``, the mask's grid), re-decide its outline by the sheet's colours
    within ``band`` pixels when ``band`` > 0 and ``sheet_rgb()`` gives the sheet on that grid (None:
    it cannot be read, keep the network's mask), clear what lies beyond the sheet's paper there
    (``refine.sheet_only``: the table or scanner lid around a photographed sheet;
    :mod:`herbseg.measurement.sheet_region`) and the parts lying in pictures glued to the sheet
    (``refine.drop_pictures``: :mod:`herbseg.measurement.glued_pictures`), write
    ``<out_dir>/<sheet_id>.png``.

    Returns the predictions-table row and whether the edges were refined.
    """
    mask, refined = prob >= threshold, False
    if band and sheet_rgb is not None:
        rgb = sheet_rgb()
        if rgb is not None:
            mask, refined = refine_edges(prob, rgb, band, threshold, refine)
            region = sheet_region(rgb) if refine is None or refine.sheet_only else None
            if region is not None:
                mask &= region
            if refine is None or refine.drop_pictures:
                mask = drop_pictures(mask, rgb)
    return write_mask_row(mask, sheet_id, out_dir, sheet_size), refined


def write_mask_row(
    mask: np.ndarray, sheet_id: str, out_dir: Path, sheet_size: tuple[int, int]
) -> dict:
    """Write ``<out_dir>/<sheet_id>.png`` and return its predictions-table row."""
    h, w = mask.shape[:2]
    path = out_dir / f"{sheet_id}.png"
    write_mask(path, mask)
    return mask_row(sheet_id, str(path), w, h, *sheet_size)
