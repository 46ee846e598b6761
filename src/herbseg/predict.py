"""Segment every sheet of a shard and write its mask in the sheet's own geometry.

Frames are decoded ahead in threads while the model works on the current batch, and masks are
encoded in threads behind it, so neither disk nor PNG coding idles the model.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from herbseg.geometry import Geometry, frame_to_sheet, output_size
from herbseg.images import load_rgb, write_mask
from herbseg.infer import predict_proba

PREDICT_COLUMNS = [
    "sheet_id",
    "status",
    "error",
    "mask_path",
    "mask_w",
    "mask_h",
    "sheet_w",
    "sheet_h",
]


def _batches(rows: list[dict], size: int) -> Iterator[list[dict]]:
    for i in range(0, len(rows), size):
        yield rows[i : i + size]


def _load(batch: list[dict]) -> np.ndarray:
    return np.stack([load_rgb(r["frame_path"]) for r in batch])


def _write(
    prob: np.ndarray, row: dict, out_dir: Path, long_side: int | None, threshold: float
) -> dict:
    geom = Geometry.from_row(row)
    w, h = output_size(geom.sheet_w, geom.sheet_h, long_side)
    path = out_dir / f"{row['sheet_id']}.png"
    write_mask(path, frame_to_sheet(prob, geom, w, h, threshold))
    return {
        "sheet_id": row["sheet_id"],
        "status": "ok",
        "error": "",
        "mask_path": str(path),
        "mask_w": w,
        "mask_h": h,
        "sheet_w": geom.sheet_w,
        "sheet_h": geom.sheet_h,
    }


def predict_shard(
    model: torch.nn.Module,
    resized: pd.DataFrame,
    out_dir: Path,
    *,
    device: torch.device,
    batch_size: int = 8,
    long_side: int | None = None,
    threshold: float = 0.5,
    amp: bool = True,
    channels_last: bool = True,
    threads: int = 1,
    log: Callable[[str], None] = print,
) -> pd.DataFrame:
    """Predict all ``ok`` rows of a shard's resize table.

    Rows that failed earlier are left out: their status already travels in the shard list, and a
    duplicate sheet id must not appear twice here.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    todo = resized[resized["status"] == "ok"].to_dict("records")
    results: list[Future] = []
    start = time.perf_counter()
    done = 0
    with ThreadPoolExecutor(max_workers=max(1, threads)) as io:
        batches = list(_batches(todo, max(1, batch_size)))
        pending = io.submit(_load, batches[0]) if batches else None
        for i, batch in enumerate(batches):
            images = pending.result()
            pending = io.submit(_load, batches[i + 1]) if i + 1 < len(batches) else None
            probs = predict_proba(model, images, device, amp=amp, channels_last=channels_last)
            results += [
                io.submit(_write, p, r, out_dir, long_side, threshold) for p, r in zip(probs, batch)
            ]
            done += len(batch)
            rate = done / max(time.perf_counter() - start, 1e-9)
            log(
                f"predicted {done}/{len(todo)} sheets, {rate:.2f} sheets/s, "
                f"eta {(len(todo) - done) / rate:.0f} s"
            )
        rows = [f.result() for f in results]
    return pd.DataFrame(rows).reindex(columns=PREDICT_COLUMNS)
