"""Bring every sheet of a shard (and its annotation) into the square network frame.

The geometry of each sheet is recorded beside the frames so that predictions can be mapped back
onto the sheet's own pixel grid later (see :mod:`herbseg.io.geometry`).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd

from herbseg.io.files import write_csv
from herbseg.io.geometry import GEOMETRY_COLUMNS, image_to_frame, mask_to_frame, plan
from herbseg.io.images import (
    DEFAULT_MAX_MEGAPIXELS,
    SheetError,
    load_rgb,
    read_mask,
    write_mask,
    write_rgb,
)
from herbseg.io.progress import Progress
from herbseg.io.tables import read_table

RESIZE_COLUMNS = ["sheet_id", "status", "error", "frame_path", "mask_frame_path", *GEOMETRY_COLUMNS]


def frame_paths(out_dir: Path, sheet_id: str) -> tuple[Path, Path]:
    """Where a sheet's frame and mask frame live inside a shard's resize folder."""
    return out_dir / "images" / f"{sheet_id}.png", out_dir / "masks" / f"{sheet_id}.png"


def resize_sheet(
    row: dict,
    out_dir: Path,
    frame: int,
    mode: str,
    max_megapixels: float = DEFAULT_MAX_MEGAPIXELS,
    keep_thin: bool = False,
) -> dict:
    """Resize one manifest row; failures become a status, never an exception. ``keep_thin``:
    structures of the mask thinner than a frame pixel stay (:func:`mask_to_frame`)."""
    out = {
        "sheet_id": row["sheet_id"],
        "status": row["status"],
        "error": row.get("error", ""),
        "frame_path": "",
        "mask_frame_path": "",
    }
    if row["status"] != "ok":
        return out
    try:
        geom = plan(int(row["width"]), int(row["height"]), frame, mode)
        rgb = load_rgb(row["path"], min_size=geom.decode_size(), max_megapixels=max_megapixels)
        img_path, mask_path = frame_paths(out_dir, row["sheet_id"])
        write_rgb(img_path, image_to_frame(rgb, geom))
        out.update(geom.as_row(), frame_path=str(img_path))
        if row.get("mask_path"):
            try:
                mask = mask_to_frame(read_mask(row["mask_path"]), geom, keep_thin=keep_thin)
                write_mask(mask_path, mask)
                out["mask_frame_path"] = str(mask_path)
            except SheetError as exc:
                out["error"] = f"mask unusable: {exc.reason}"
    except SheetError as exc:
        out.update(status="error", error=exc.reason)
    return out


def resize_shard(
    rows: pd.DataFrame,
    out_dir: Path,
    *,
    frame: int = 512,
    mode: str = "squash",
    max_megapixels: float = DEFAULT_MAX_MEGAPIXELS,
    keep_thin: bool = False,
    threads: int = 1,
    log: Callable[[str], None] = print,
) -> pd.DataFrame:
    """Resize a shard's sheets in parallel threads (decoding releases the GIL)."""
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    (out_dir / "masks").mkdir(parents=True, exist_ok=True)
    records = rows.to_dict("records")
    progress = Progress(len(records), log, "resized")
    done = []
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        work = pool.map(
            lambda r: resize_sheet(r, out_dir, frame, mode, max_megapixels, keep_thin), records
        )
        for row in work:
            done.append(row)
            progress.update()
    table = pd.DataFrame(done).reindex(columns=RESIZE_COLUMNS)
    for col in GEOMETRY_COLUMNS:  # whole numbers, empty for failed sheets (never "120.0")
        if col != "mode":
            table[col] = table[col].astype("Int64")
    n_ok = int((table["status"] == "ok").sum())
    log(f"resized {n_ok}/{len(table)} sheets to {frame}×{frame} ({mode}) into {out_dir}")
    return table


def keep_thin_labels(setting: bool | str, mask_class: str) -> bool:
    """``resize.thin_labels``: ``auto`` keeps thin structures in whole-plant masks only (a leaf
    mask's thin parts are tips, which the demo's lengths were tuned without)."""
    return mask_class == "plant" if setting == "auto" else bool(setting)


def run(inputs, outputs, params, *, threads: int, log: Callable[[str], None]) -> None:
    """Rule resize: one shard's frames (``inputs.sheets`` is its list) and ``resize.csv``."""
    table = resize_shard(
        read_table(inputs.sheets, "text"),
        Path(outputs.table).parent,
        frame=params.resize["size"],
        mode=params.resize["mode"],
        max_megapixels=params.max_megapixels,
        keep_thin=keep_thin_labels(params.resize["thin_labels"], params.mask_class),
        threads=threads,
        log=log,
    )
    write_csv(table, outputs.table)
