"""The one mapping between a sheet's own pixel grid and the square network frame.

Resize, training, prediction and evaluation all go through :class:`Geometry`, so a prediction made
in the 512×512 frame lands back on exactly the sheet pixels it came from, whichever resize mode
(``squash`` as in the paper, or aspect-preserving ``letterbox``) was used.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from PIL import Image

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


def mask_to_frame(mask: np.ndarray, geom: Geometry) -> np.ndarray:
    """Map an annotation (at its own size, which may differ from the sheet's) into the frame.

    Nearest-neighbour keeps the mask binary; an annotation stretched to another aspect ratio is
    stretched back because it covers the whole sheet by definition.
    """
    im = Image.fromarray(mask.astype(np.uint8) * 255).resize(
        (geom.box_w, geom.box_h), Image.Resampling.NEAREST
    )
    out = np.zeros((geom.frame, geom.frame), dtype=bool)
    out[geom.box_y : geom.box_y + geom.box_h, geom.box_x : geom.box_x + geom.box_w] = (
        np.asarray(im) >= 128
    )
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
    """The binary mask of a frame of probabilities on a sheet-shaped grid of ``out_w×out_h``."""
    return frame_to_grid(prob, geom, out_w, out_h) >= threshold


# The predictions table's columns live in herbseg.io.tables with the other tables'; this name stays
# for the modules that import it from here.
MASK_TABLE_COLUMNS = PREDICTION_COLUMNS


def output_size(sheet_w: int, sheet_h: int, long_side: int | None) -> tuple[int, int]:
    """A predicted mask is the sheet's own size, or scaled down to ``long_side``."""
    if not long_side or max(sheet_w, sheet_h) <= long_side:
        return sheet_w, sheet_h
    scale = long_side / max(sheet_w, sheet_h)
    return max(1, round(sheet_w * scale)), max(1, round(sheet_h * scale))
