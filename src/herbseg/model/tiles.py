"""Tiled prediction at a higher resolution, for sheets whose thin structures vanish in one frame.

Why: squeezing a 4000×6000 scan into one 512 frame makes a 3-pixel stem a tenth of a frame pixel,
so it is gone before the network sees it (grasses, wiry plants, petioles, inflorescences). Here
the sheet is brought to ``long_side`` pixels (its aspect kept), cut into ``tile``-pixel tiles
that overlap by ``overlap`` of a tile, each tile is predicted like a frame, and the tiles'
probabilities are blended with weights that fall to near zero at a tile's edge (a raised-cosine
window), so seams and the network's weaker context at tile borders do not show. The cost is the
number of tiles: at ``long_side`` 2048 and 512 tiles with a quarter overlap a 2:3 sheet is
4×6 = 24 tiles where the single frame is one (measured per sheet on CPU in BENCHMARKS.md).

The network should be trained on frames at the scale it sees here (sheet pixels per frame
pixel); a model trained on whole-sheet frames sees larger plants in tiles than it learned.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image

from herbseg.io.geometry import output_size
from herbseg.io.images import DEFAULT_MAX_MEGAPIXELS, SheetError, load_rgb
from herbseg.io.progress import Progress
from herbseg.io.tables import PREDICTION_COLUMNS, failed_row
from herbseg.measurement.refine import RefineSettings, band_px
from herbseg.model.infer import predict_proba
from herbseg.model.masks import mask_doubt, write_prediction
from herbseg.model.runtime import Network


@dataclass(frozen=True)
class TileSettings:
    """``predict.tiles`` of the config (a field of ``herbseg.stages.predict.PredictSettings``)."""

    enabled: bool = False
    long_side: int = 2048
    tile: int = 512
    overlap: float = 0.25


def starts(n: int, tile: int, overlap: float) -> list[int]:
    """Tile origins along an axis of ``n`` pixels: evenly spread, first at 0, last at n - tile."""
    if n <= tile:
        return [0]
    step = max(1, int(tile * (1 - overlap)))
    count = int(np.ceil((n - tile) / step)) + 1
    return [round(i * (n - tile) / (count - 1)) for i in range(count)]


def window(tile: int) -> np.ndarray:
    """Blending weights of one tile: a raised cosine, never exactly zero (a lone tile counts)."""
    ramp = 0.5 - 0.5 * np.cos(2 * np.pi * (np.arange(tile) + 0.5) / tile)
    return np.outer(ramp, ramp).astype(np.float32) + 1e-3


def tiled_proba(
    model: Network,
    rgb: np.ndarray,
    device: torch.device,
    settings: TileSettings,
    batch_size: int = 8,
    amp: bool = True,
    channels_last: bool = True,
) -> np.ndarray:
    """Probabilities of ``rgb`` (already at the working resolution), blended from tiles."""
    h, w = rgb.shape[:2]
    t = settings.tile
    pad_h, pad_w = max(0, t - h), max(0, t - w)
    if pad_h or pad_w:  # a sheet smaller than a tile: reflect it up to one tile
        rgb = np.pad(rgb, ((0, pad_h), (0, pad_w), (0, 0)), mode="reflect")
    H, W = rgb.shape[:2]
    boxes = [(y, x) for y in starts(H, t, settings.overlap) for x in starts(W, t, settings.overlap)]
    acc = np.zeros((H, W), np.float32)
    weight = np.zeros((H, W), np.float32)
    win = window(t)
    for i in range(0, len(boxes), batch_size):
        chunk = boxes[i : i + batch_size]
        frames = np.stack([rgb[y : y + t, x : x + t] for y, x in chunk])
        probs = predict_proba(model, frames, device, amp=amp, channels_last=channels_last)
        for (y, x), p in zip(chunk, probs, strict=True):
            acc[y : y + t, x : x + t] += p * win
            weight[y : y + t, x : x + t] += win
    return (acc / weight)[:h, :w]


def predict_tiled_shard(
    model: Network,
    sheets: pd.DataFrame,
    out_dir: Path,
    settings: TileSettings,
    *,
    device: torch.device,
    batch_size: int = 8,
    long_side: int | None = None,
    threshold: float = 0.5,
    amp: bool = True,
    channels_last: bool = True,
    refine: RefineSettings | None = None,
    max_megapixels: float = DEFAULT_MAX_MEGAPIXELS,
    log: Callable[[str], None] = print,
) -> pd.DataFrame:
    """Masks of every ``ok`` manifest row (``sheet_id``, ``path``, ``width``, ``height``), in the
    table :func:`herbseg.stages.predict.predict_shard` writes; an unreadable sheet is an error
    row."""
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    todo = sheets[sheets["status"] == "ok"].to_dict("records")
    progress = Progress(len(todo), log, "predicted (tiled)")
    for row in todo:
        sid = str(row["sheet_id"])
        sw, sh = int(row["width"]), int(row["height"])
        ww, wh = output_size(sw, sh, settings.long_side)
        try:
            rgb = load_rgb(row["path"], min_size=(ww, wh), max_megapixels=max_megapixels)
        except (SheetError, OSError) as exc:
            rows.append(failed_row(sid, f"sheet unreadable: {exc}", sw, sh))
            progress.update(1)
            continue
        work = np.asarray(Image.fromarray(rgb).resize((ww, wh), Image.Resampling.BILINEAR))
        prob = tiled_proba(model, work, device, settings, batch_size, amp, channels_last)
        doubt = mask_doubt(prob)  # on the working grid the tiles were predicted on
        w, h = output_size(sw, sh, long_side)
        if (w, h) != (ww, wh):
            prob = np.asarray(Image.fromarray(prob).resize((w, h), Image.Resampling.BILINEAR))
            work = np.asarray(Image.fromarray(work).resize((w, h), Image.Resampling.BILINEAR))
        band = band_px(refine, w / ww) if refine else 0  # one frame pixel = one working pixel
        row_out, _ = write_prediction(
            prob, sid, out_dir, (sw, sh), threshold=threshold, band=band, refine=refine,
            sheet_rgb=lambda work=work: work, doubt=doubt,
        )  # fmt: skip
        rows.append(row_out)
        progress.update(1)
    return pd.DataFrame(rows, columns=PREDICTION_COLUMNS)
