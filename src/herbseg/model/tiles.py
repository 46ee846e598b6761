"""Tiled prediction at a higher resolution, for sheets whose thin structures vanish in one frame.

Why: squeezing a 4000×6000 scan into one 512 frame makes a 3-pixel stem a tenth of a frame pixel,
so it is gone before the network sees it (grasses, wiry plants, petioles, inflorescences). Here
the sheet is brought to ``long_side`` pixels (its aspect kept, never enlarged), cut into
``tile``-pixel tiles that overlap by ``overlap`` of a tile, each tile is predicted like a frame,
and the tiles' probabilities are blended with weights that fall to near zero at a tile's edge (a
raised-cosine window), so seams and the network's weaker context at tile borders do not show.
The cost is the number of tiles: at ``long_side`` 2048 and 512 tiles with a quarter overlap a 2:3
sheet is 4×6 = 24 tiles where the single frame is one (measured per sheet on CPU in
BENCHMARKS.md).

A model trained on whole-sheet frames sees larger plants in tiles than it learned: it finds the
stems a frame loses, but opens holes in large leaves and misses flowers it sees whole in a frame
(validation plants, the real-sheet model, tiles alone at 2048: pooled IoU 0.942 -> 0.804). So
by default (``mode: thin``) the tiles only add to the frame's answer what is thin in them:
:func:`with_thin_parts`. ``mode: replace`` predicts from the tiles alone, for a network trained
on frames at the tiles' scale.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image
from scipy import ndimage as ndi

from herbseg.io.geometry import output_size
from herbseg.io.images import DEFAULT_MAX_MEGAPIXELS, SheetError, load_rgb
from herbseg.io.progress import Progress
from herbseg.io.tables import PREDICTION_COLUMNS, failed_row
from herbseg.measurement.distance import wide_parts, within
from herbseg.measurement.refine import RefineSettings, band_px
from herbseg.model.infer import predict_proba
from herbseg.model.masks import mask_doubt, write_prediction
from herbseg.model.runtime import Network


@dataclass(frozen=True)
class TileSettings:
    """``predict.tiles`` of the config (a field of ``herbseg.stages.predict.PredictSettings``)."""

    enabled: bool = False
    mode: str = "thin"
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


def working_sheet(
    path: str,
    sheet_w: int,
    sheet_h: int,
    settings: TileSettings,
    max_megapixels: float = DEFAULT_MAX_MEGAPIXELS,
) -> np.ndarray:
    """The sheet at ``path`` at the tiles' working size (``long_side``, never enlarged).

    Raises :class:`~herbseg.io.images.SheetError` or ``OSError`` when it cannot be read."""
    ww, wh = output_size(sheet_w, sheet_h, settings.long_side)
    rgb = load_rgb(path, min_size=(ww, wh), max_megapixels=max_megapixels)
    if rgb.shape[:2] == (wh, ww):
        return rgb
    return np.asarray(Image.fromarray(rgb).resize((ww, wh), Image.Resampling.BILINEAR))


def with_thin_parts(
    frame: np.ndarray, tiles: np.ndarray, *, width: float, faint: float, threshold: float
) -> np.ndarray:
    """The frame's probabilities with the thin parts the tiles see added (the larger of the two).

    Both are on the mask's grid; ``width`` is in pixels of that grid (the edge refinement's
    ``thin_width``, two frame pixels, the widest it lets a thin structure be). What is added is
    the part of the tiles' mask whose trace at ``faint`` (the probability the refinement follows
    thin structures from; the threshold when it does not) is no wider than ``width`` either side
    of its axis: stems, culms, petioles, thin inflorescence branches. And only where it joins the
    frame's mask, directly or through pixels the frame gives at least ``faint``: a stem is part
    of the plant, while a ruler tick, a barcode bar or a pen stroke on a label lies apart from it.
    Wider parts stay the frame's, which sees leaves and flowers whole.

    Why the trace at ``faint``: a textured thing the network half-believes in tiles (a steel
    washer, the soil of a glued field photograph) comes out of the threshold as speckle, every
    speck thin, while its faint trace is one wide blob. Judged at the threshold, LeafMachine2's
    washer added 24 k pixels (LowRes_10 leaf area +1.2 % -> +4.8 %) and field photographs the
    recognizer misses lost 0.10 IoU; judged at ``faint`` neither moves, and wiry validation
    plants keep their gain (BENCHMARKS.md, "Thin parts from tiles").
    """
    follow = faint if 0 < faint < threshold else threshold
    # Everything below lies where the tiles or the frame reach ``follow``: work in that box
    # (with a pixel of margin, so the distance transforms and labels inside it are exact): on a
    # scan at its own size most of the grid is paper no faint trace reaches.
    reach = (tiles >= follow) | (frame >= follow)
    rows, cols = np.flatnonzero(reach.any(axis=1)), np.flatnonzero(reach.any(axis=0))
    if not rows.size:
        return frame
    box = (slice(max(0, rows[0] - 1), rows[-1] + 2), slice(max(0, cols[0] - 1), cols[-1] + 2))
    f, t = frame[box], tiles[box]
    mask = t >= threshold
    thin = mask & ~wide_parts(t >= follow, width)
    if not thin.any():
        return frame
    # Where a stem leaves a leaf the opening keeps up to ``width`` pixels of it with the leaf:
    # those pixels are taken too, or the stem would start a few pixels away from its leaf.
    thin = mask & within(thin, width)
    labels, _ = ndi.label((f >= follow) | thin, structure=np.ones((3, 3), bool))
    joined = np.unique(labels[f >= threshold])
    thin &= np.isin(labels, joined[joined > 0])
    out = frame.astype(np.float32)  # a copy: the caller's frame is left as it was
    out[box] = np.where(thin, np.maximum(f, t), f)
    return out


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
    seen: Callable[[np.ndarray], None] | None = None,
    log: Callable[[str], None] = print,
) -> pd.DataFrame:
    """Masks of every ``ok`` manifest row (``sheet_id``, ``path``, ``width``, ``height``), in the
    table :func:`herbseg.stages.predict.predict_shard` writes; an unreadable sheet is an error
    row. ``seen`` is given each sheet that was read, at the tiles' working size."""
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    todo = sheets[sheets["status"] == "ok"].to_dict("records")
    progress = Progress(len(todo), log, "predicted (tiled)")
    for row in todo:
        sid = str(row["sheet_id"])
        sw, sh = int(row["width"]), int(row["height"])
        try:
            work = working_sheet(row["path"], sw, sh, settings, max_megapixels)
        except (SheetError, OSError) as exc:
            rows.append(failed_row(sid, f"sheet unreadable: {exc}", sw, sh))
            progress.update(1)
            continue
        if seen is not None:
            seen(work)
        wh, ww = work.shape[:2]
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
