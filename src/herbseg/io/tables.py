"""The workflow's tables: their column lists and the one way each kind is read back.

Why one module: every stage used to read the predict and measure tables with its own ``dtype``
arguments, so the same file came back with ``sheet_id`` 0007 as ``7`` in one stage and as
``"0007"`` in another, or with an empty ``error`` as ``""`` in one and ``NaN`` in the next. Here
each kind of table has one policy:

* sheet ids are always text (a catalogue number 0007 must not become 7);
* ``text``: every column as written, an empty cell as ``""``: the manifest, the shard lists and
  ``problems.csv`` (ids, paths and catalogue fields that are never computed on), and any table a
  stage goes through row by row to copy or print its values (the report's overlays and scale
  evidence, the Darwin Core export);
* ``predictions``: an empty cell stays ``""``, since its ``error`` and ``mask_path`` are copied
  into the measure tables as written;
* every other kind (``sheets`` = ``leaf_area.csv``, ``leaves`` = ``leaf_traits.csv``, ``split``,
  ``frames``, ``verdicts``, …) reads a blank as missing, as its numeric columns need.
"""

from __future__ import annotations

from collections.abc import Iterable
from os import PathLike
from typing import Any

import pandas as pd

# The table of a shard's predicted masks, written by predict and by the baseline alike: each
# mask's file, the grid it is on (herbseg.io.geometry.output_size) and, for a network's mask, how
# unsure the network was of it (herbseg.model.masks.mask_doubt; blank for the baseline).
PREDICTION_COLUMNS = [
    "sheet_id", "status", "error", "mask_path", "mask_w", "mask_h", "sheet_w", "sheet_h",
    "mask_doubt",
]  # fmt: skip
# measure/<shard>/leaf_area.csv and the collection's leaf_area.csv (plus carried manifest columns)
SHEET_COLUMNS = [
    "sheet_id", "path", "status", "error", "width", "height", "leaf_px", "leaf_fraction",
    "n_leaves", "n_intact", "px_per_mm", "scale_source", "scale_confidence", "scale_kind",
    "scale_orientation", "scale_found_px_per_mm", "scale_span_px", "scale_line", "scale_note",
    "leaf_area_mm2",
    "median_intact_leaf_area_mm2", "median_intact_leaf_length_mm", "mask_doubt", "predicted_mask",
    "shard",
]  # fmt: skip
# measure/<shard>/leaf_traits.csv and the collection's leaf_traits.csv
TRAIT_COLUMNS = [
    "sheet_id", "leaf_id", "area_px", "area_mm2", "perimeter_px", "perimeter_mm", "length_px",
    "length_mm", "width_px", "width_mm", "solidity", "eccentricity", "bbox", "centroid_x",
    "centroid_y", "touches_edge", "intact", "intact_by", "intact_prob", "intact_rule",
]  # fmt: skip

# Counts and pixel sizes: whole numbers, written as such even in a table where some rows are
# blank (a failed sheet), which pandas would otherwise turn into floats ("2.0" leaves).
COUNT_COLUMNS = ("width", "height", "leaf_px", "n_leaves", "n_intact", "leaf_id", "area_px")

_ID = {"sheet_id": str}
POLICY: dict[str, dict[str, Any]] = {
    "text": {"dtype": str, "keep_default_na": False},
    "predictions": {"dtype": _ID, "keep_default_na": False},
    "sheets": {"dtype": _ID},  # leaf_area.csv, for its numbers
    "leaves": {"dtype": _ID},
    "frames": {"dtype": _ID},  # resize/<shard>/resize.csv
    "split": {"dtype": _ID},
    "verdicts": {"dtype": _ID},  # classify/<shard>/leaf_class.csv
    "qc": {"dtype": _ID},  # ingest/annotation_qc.csv
    "scores": {"dtype": _ID},  # evaluate/per_sheet.csv, baseline/per_sheet.csv
    "truth": {"dtype": _ID},  # the synthetic generator's truth.csv and truth_leaves.csv
}


def read_table(path: str | PathLike, kind: str) -> pd.DataFrame:
    """One table of the workflow, read by the policy of its ``kind`` (see the module docstring)."""
    if kind not in POLICY:
        raise ValueError(f"unknown table kind {kind!r}; known: {', '.join(POLICY)}")
    return pd.read_csv(path, **POLICY[kind])


def read_tables(paths: Iterable[str | PathLike], kind: str) -> pd.DataFrame:
    """Several tables of one kind (a shard each) as one, in order; empty when there are none."""
    frames = [read_table(p, kind) for p in paths]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def with_counts_whole(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with its :data:`COUNT_COLUMNS` as nullable integers (blank stays blank)."""
    out = frame.copy()
    for c in (c for c in COUNT_COLUMNS if c in frame.columns):
        # text columns carried from the manifest hold digits or ""; anything else is a bug
        out[c] = pd.to_numeric(frame[c].replace({"": None})).astype("Int64")
    return out


def mask_row(
    sheet_id: str, mask_path: str, w: int, h: int, sheet_w: int, sheet_h: int,
    doubt: float | None = None,
) -> dict:  # fmt: skip
    """A predictions-table row of a written mask (``w×h`` on the sheet's ``sheet_w×sheet_h``);
    ``doubt`` is the network's (None, written blank, for a mask no network made)."""
    return {"sheet_id": sheet_id, "status": "ok", "error": "", "mask_path": mask_path,
            "mask_w": w, "mask_h": h, "sheet_w": sheet_w, "sheet_h": sheet_h,
            "mask_doubt": "" if doubt is None else round(doubt, 4)}  # fmt: skip


def failed_row(sheet_id: str, error: str, sheet_w: Any, sheet_h: Any) -> dict:
    """A predictions-table row of a sheet that got no mask, and why."""
    return {"sheet_id": sheet_id, "status": "error", "error": error, "mask_path": "",
            "sheet_w": sheet_w, "sheet_h": sheet_h}  # fmt: skip
