"""The one mapping between a sheet's own pixel grid and the square network frame.

Resize, training, prediction and evaluation all go through :class:`Geometry`, so a prediction made
in the 512×512 frame lands back on exactly the sheet pixels it came from, whichever resize mode
(``squash`` as in the paper, or aspect-preserving ``letterbox``) was used.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from PIL import Image
from scipy import ndimage as ndi

from herbseg.io.tables import PREDICTION_COLUMNS

MODES = ("squash", "letterbox")
GEOMETRY_COLUMNS = ("sheet_w", "sheet_h", "frame", "mode", "box_x", "box_y", "box_w", "box_h")


@dataclass(frozen=True)
class Geometry:
    """Where a sheet sits inside the frame: the content box ``(box_x, box_y, box_w, box_h)``."""

    sheet_w: int
    sheet_h: int
    frame: int
    mode: str
    box_x: int
    box_y: int
    box_w: int
    box_h: int

    def as_row(self) -> dict[str, int | str]:
        return asdict(self)

    @classmethod
    def from_row(cls, row: dict) -> Geometry:
        return cls(**{k: (row[k] if k == "mode" else int(row[k])) for k in GEOMETRY_COLUMNS})

    def decode_size(self) -> tuple[int, int]:
        """The smallest aspect-kept size a decoder may deliver and still cover the content box."""
        scale = max(self.box_w / self.sheet_w, self.box_h / self.sheet_h)
        return (
            max(1, int(np.ceil(self.sheet_w * scale))),
            max(1, int(np.ceil(self.sheet_h * scale))),
        )


def plan(sheet_w: int, sheet_h: int, frame: int, mode: str = "squash") -> Geometry:
    """Decide the content box for a sheet of the given size."""
    if mode not in MODES:
        raise ValueError(f"resize mode must be one of {MODES}, not {mode!r}")
    if sheet_w <= 0 or sheet_h <= 0:
        raise ValueError(f"sheet size must be positive, got {sheet_w}×{sheet_h}")
    if mode == "squash":
        return Geometry(sheet_w, sheet_h, frame, mode, 0, 0, frame, frame)
    scale = min(frame / sheet_w, frame / sheet_h)
    box_w = max(1, min(frame, round(sheet_w * scale)))
    box_h = max(1, min(frame, round(sheet_h * scale)))
    return Geometry(
        sheet_w, sheet_h, frame, mode, (frame - box_w) // 2, (frame - box_h) // 2, box_w, box_h
    )


# Letterbox padding is mid-grey so it is neither paper-white nor a plant colour.
PAD_VALUE = 127


def image_to_frame(rgb: np.ndarray, geom: Geometry) -> np.ndarray:
    """Place a decoded sheet (any decoded size with the sheet's aspect) into the frame."""
    im = Image.fromarray(rgb).resize(
        (geom.box_w, geom.box_h), Image.Resampling.BILINEAR, reducing_gap=2.0
    )
    if geom.mode == "squash":
        return np.asarray(im)
    out = np.full((geom.frame, geom.frame, 3), PAD_VALUE, dtype=np.uint8)
    out[geom.box_y : geom.box_y + geom.box_h, geom.box_x : geom.box_x + geom.box_w] = im
    return out


def image_to_grid(rgb: np.ndarray, out_w: int, out_h: int) -> np.ndarray:
    """A decoded sheet (any decoded size with the sheet's aspect) on the ``out_w×out_h`` grid of
    its predicted mask (see :func:`output_size`), for edge refinement by colour."""
    if rgb.shape[1] == out_w and rgb.shape[0] == out_h:
        return rgb
    im = Image.fromarray(rgb).resize((out_w, out_h), Image.Resampling.BILINEAR, reducing_gap=2.0)
    return np.asarray(im)


def thin_parts(mask: np.ndarray, radius: int) -> np.ndarray:
    """The parts of ``mask`` no disc of ``radius`` pixels fits in (what a morphological opening by
    that disc removes): stems, roots, culms, and the corners of wider shapes."""
    yy, xx = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    return mask & ~ndi.binary_opening(mask, structure=yy**2 + xx**2 <= radius * radius)


def mask_to_frame(mask: np.ndarray, geom: Geometry, *, keep_thin: bool = False) -> np.ndarray:
    """Map an annotation (at its own size, which may differ from the sheet's) into the frame.

    Nearest-neighbour keeps the mask binary; an annotation stretched to another aspect ratio is
    stretched back because it covers the whole sheet by definition.

    Nearest-neighbour also drops most of a structure narrower than the frame pixel: a stem two
    sheet pixels wide, brought down fourfold, survives as a dashed line or not at all, so a
    network trained on such labels learns to leave stems out. ``keep_thin`` (whole-plant masks)
    adds every frame pixel that a thin part of the mask crosses, so stems, roots and culms stay
    continuous one-pixel lines; the parts wider than a frame pixel are mapped as before.
    """
    box = (geom.box_w, geom.box_h)
    im = Image.fromarray(mask.astype(np.uint8) * 255).resize(box, Image.Resampling.NEAREST)
    inner = np.asarray(im) >= 128
    step = max(mask.shape[1] / geom.box_w, mask.shape[0] / geom.box_h)
    if keep_thin and step > 1:
        thin = thin_parts(mask, int(np.ceil(step / 2)))
        if thin.any():  # any thin pixel under a frame pixel marks it (BOX mean > 0)
            crossed = Image.fromarray(thin.astype(np.uint8) * 255).resize(box, Image.Resampling.BOX)
            inner |= np.asarray(crossed) > 0
    out = np.zeros((geom.frame, geom.frame), dtype=bool)
    out[geom.box_y : geom.box_y + geom.box_h, geom.box_x : geom.box_x + geom.box_w] = inner
    return out


def frame_to_grid(prob: np.ndarray, geom: Geometry, out_w: int, out_h: int) -> np.ndarray:
    """Bring a frame of probabilities back onto a sheet-shaped grid of ``out_w×out_h`` (float32).

    Bilinear interpolation of probabilities, thresholded afterwards, gives smooth, sub-frame-pixel
    leaf outlines instead of the blocky edges of resizing a binary mask.
    """
    box = prob[geom.box_y : geom.box_y + geom.box_h, geom.box_x : geom.box_x + geom.box_w]
    im = Image.fromarray(box.astype(np.float32), mode="F").resize(
        (out_w, out_h), Image.Resampling.BILINEAR
    )
    return np.asarray(im)


def frame_to_sheet(
    prob: np.ndarray, geom: Geometry, out_w: int, out_h: int, threshold: float = 0.5
) -> np.ndarray:
    """The binary mask of a frame of probabilities on a sheet-shaped grid of ``out_w×out_h``.

    The same pixels as ``frame_to_grid(...) >= threshold``, at a fraction of the cost on a large
    sheet: a bilinear output pixel is a weighted mean (weights ≥ 0, summing to 1) of the few
    frame pixels under it, so where those all lie on one side of the threshold the output does
    too, and only blocks that straddle a leaf outline are interpolated, with Pillow's own weights
    and arithmetic (:func:`_pillow_bilinear_weights`). tests/test_geometry.py checks the equality
    against Pillow on outlines, letterboxes, down-scaling and odd sizes.
    """
    box = prob[geom.box_y : geom.box_y + geom.box_h, geom.box_x : geom.box_x + geom.box_w]
    return _threshold_resize(np.ascontiguousarray(box, dtype=np.float32), out_w, out_h, threshold)


# Output pixels are decided in square blocks: a block whose frame pixels all fall on one side of
# the threshold is filled at once; 16 keeps the interpolated band narrow along outlines.
_BLOCK = 16


def _pillow_bilinear_weights(in_size: int, out_size: int) -> tuple[np.ndarray, np.ndarray]:
    """First input index (``out_size``) and normalised weights (``out_size×k``) of each output
    pixel, computed as Pillow's ``precompute_coeffs`` does for a bilinear resize of the whole
    input (``libImaging/Resample.c``: same formula, same float64 operations in the same order),
    so the interpolated values below are bit-identical to ``Image.resize``."""
    scale = in_size / out_size
    filterscale = max(scale, 1.0)
    support = filterscale  # the bilinear filter's support is 1
    ksize = int(np.ceil(support)) * 2 + 1
    center = (np.arange(out_size, dtype=np.float64) + 0.5) * scale
    first = np.maximum((center - support + 0.5).astype(np.int64), 0)  # C casts truncate
    count = np.minimum((center + support + 0.5).astype(np.int64), in_size) - first
    taps = np.arange(ksize)
    x = ((taps[None, :] + first[:, None]).astype(np.float64) - center[:, None] + 0.5) * (
        1.0 / filterscale
    )
    x = np.abs(x)
    w = np.where((x < 1.0) & (taps[None, :] < count[:, None]), 1.0 - x, 0.0)
    total = np.zeros(out_size)
    for j in range(ksize):  # Pillow sums tap by tap
        total = total + w[:, j]
    w = np.divide(w, total[:, None], out=w, where=total[:, None] != 0.0)
    return first, w


def _block_reads(first: np.ndarray, w: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The input span ``[lo, hi)`` that each block of ``_BLOCK`` outputs reads (all its taps)."""
    starts = np.arange(0, len(first), _BLOCK)
    return first[starts], np.maximum.reduceat(np.minimum(first + w.shape[1], n), starts)


def _threshold_resize(box: np.ndarray, out_w: int, out_h: int, threshold: float) -> np.ndarray:
    """``Image.fromarray(box, "F").resize((out_w, out_h), BILINEAR) >= threshold``, block-wise."""
    in_h, in_w = box.shape
    fy, wy = _pillow_bilinear_weights(in_h, out_h)
    fx, wx = _pillow_bilinear_weights(in_w, out_w)
    y_lo, y_hi = _block_reads(fy, wy, in_h)
    x_lo, x_hi = _block_reads(fx, wx, in_w)
    above = box >= threshold
    integral = np.zeros((in_h + 1, in_w + 1), np.int64)
    np.cumsum(np.cumsum(above, axis=0), axis=1, out=integral[1:, 1:])
    count = (
        integral[y_hi[:, None], x_hi[None, :]]
        - integral[y_lo[:, None], x_hi[None, :]]
        - integral[y_hi[:, None], x_lo[None, :]]
        + integral[y_lo[:, None], x_lo[None, :]]
    )
    area = (y_hi - y_lo)[:, None] * (x_hi - x_lo)[None, :]
    full, mixed = count == area, (count > 0) & (count < area)
    n_by, n_bx = full.shape
    # blocks padded past the sheet's edge; repeating whole rows is a memcpy, unlike a 4-D fill
    out = np.repeat(np.repeat(full, _BLOCK, axis=1), _BLOCK, axis=0)
    out = out.reshape(n_by, _BLOCK, n_bx, _BLOCK)
    if mixed.any():
        out[mixed.nonzero()[0], :, mixed.nonzero()[1], :] = _mixed_blocks(
            box, mixed, (fy, wy), (fx, wx), y_lo, out_h, out_w, threshold
        )
    return out.reshape(n_by * _BLOCK, n_bx * _BLOCK)[:out_h, :out_w]


def _mixed_blocks(
    box: np.ndarray,
    mixed: np.ndarray,
    rows: tuple[np.ndarray, np.ndarray],
    cols: tuple[np.ndarray, np.ndarray],
    y_lo: np.ndarray,
    out_h: int,
    out_w: int,
    threshold: float,
) -> np.ndarray:
    """The thresholded bilinear values of the ``mixed`` blocks (``blocks × _BLOCK × _BLOCK``).

    Pillow's two passes, restricted to what these blocks read: the horizontal pass on the few
    frame rows under each block (float64 sums tap by tap, stored as float32), then the vertical
    pass over those rows; the same operations in the same order as ``Image.resize`` for every
    pixel computed, so the same float32 values."""
    (fy, wy), (fx, wx) = rows, cols
    in_h, in_w = box.shape
    bi, bj = np.nonzero(mixed)
    steps = np.arange(_BLOCK)
    ys = np.minimum(bi[:, None] * _BLOCK + steps, out_h - 1)  # blocks × B (edge rows repeat)
    xs = np.minimum(bj[:, None] * _BLOCK + steps, out_w - 1)  # blocks × B
    first = y_lo[bi]
    span = int((fy[ys[:, -1]] + wy.shape[1] - first).max())  # frame rows a block reads
    src_rows = np.minimum(first[:, None] + np.arange(span), in_h - 1)  # blocks × R
    across = np.zeros((len(bi), span, _BLOCK))  # horizontal pass: blocks × R × B
    for j in range(wx.shape[1]):
        src_cols = np.minimum(fx[xs] + j, in_w - 1)  # blocks × B
        across += box[src_rows[:, :, None], src_cols[:, None, :]] * wx[xs, j][:, None, :]
    across = across.astype(np.float32)
    values = np.zeros((len(bi), _BLOCK, _BLOCK))  # vertical pass: blocks × B rows × B cols
    for j in range(wy.shape[1]):
        local = np.minimum(fy[ys] + j - first[:, None], span - 1)  # blocks × B
        picked = np.take_along_axis(across, local[:, :, None], axis=1)  # blocks × B × B
        values += picked * wy[ys, j][:, :, None]
    return values.astype(np.float32) >= threshold


# The predictions table's columns live in herbseg.io.tables with the other tables'; this name stays
# for the modules that import it from here.
MASK_TABLE_COLUMNS = PREDICTION_COLUMNS


def output_size(sheet_w: int, sheet_h: int, long_side: int | None) -> tuple[int, int]:
    """A predicted mask is the sheet's own size, or scaled down to ``long_side``."""
    if not long_side or max(sheet_w, sheet_h) <= long_side:
        return sheet_w, sheet_h
    scale = long_side / max(sheet_w, sheet_h)
    return max(1, round(sheet_w * scale)), max(1, round(sheet_h * scale))
