"""Unsure background: where a coarse whole-plant label says "paper" but the sheet says otherwise.

Why: the real whole-plant masks herbseg trains on were drawn quickly, and what they leave out is
not random: pale and yellow petals, roots, the thin ends of stems. Trained as background, those
pixels teach the network that a pale flower is paper, which is the opposite of what a
whole-plant mask from another herbarium marks (validation plants: a model trained so found
0.45 of the flower pixels). The label is trusted where it says "plant" and where the sheet
looks like paper; it is not trusted where it says "paper" next to the plant on pixels whose
colour is not the paper's. Those pixels are returned here, and training leaves them out of the
loss (``herbseg.model.data.FrameDataset``): the synthetic sheets, whose truth is exact, decide
what they are.

The paper's colour is learned from the sheet's pixels away from the labelled plant (CIELAB), per
cell of a coarse grid (``cell`` frame pixels) so that uneven light and yellowed margins do not
read as plant; a cell with too little paper of its own borrows its nearest neighbour's. A pixel is
"not paper" when its colour difference from its cell's paper reaches ``min_delta_e``. Only
pixels within ``band`` frame pixels of the label are considered: far from the plant, the label's
"paper" is trusted, so labels, rulers and colour charts stay hard negatives.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi
from skimage.color import rgb2lab

from herbseg.io.images import load_rgb, read_mask, write_mask


@dataclass(frozen=True)
class UnsureSettings:
    """``band``: frame pixels around the label where its background is questioned (0: off);
    ``min_delta_e``: the CIELAB difference from the paper that makes a pixel "not paper"
    (about 2 is what a person can just see; 12 leaves paper texture, shading and JPEG noise
    out)."""

    band: int = 0
    min_delta_e: float = 12.0
    cell: int = 32

    def __post_init__(self) -> None:
        if self.band < 0:
            raise ValueError(f"unsure band must be >= 0 frame pixels, got {self.band}")
        if self.min_delta_e <= 0:
            raise ValueError(f"unsure min_delta_e must be > 0, got {self.min_delta_e}")
        if self.cell < 4:
            raise ValueError(f"unsure cell must be >= 4 frame pixels, got {self.cell}")


def paper_colour(lab: np.ndarray, paper: np.ndarray, cell: int) -> np.ndarray | None:
    """The paper's CIELAB colour at every pixel (``H×W×3``): the median of the ``paper`` pixels
    of each ``cell``×``cell`` block, blocks with under a fifth paper taking their nearest
    neighbour's, smoothed between block centres; None when no block has enough paper."""
    h, w = paper.shape
    gh, gw = -(-h // cell), -(-w // cell)
    grid = np.zeros((gh, gw, 3), np.float32)
    have = np.zeros((gh, gw), bool)
    for i in range(gh):
        for j in range(gw):
            block = (slice(i * cell, (i + 1) * cell), slice(j * cell, (j + 1) * cell))
            sel = paper[block]
            if sel.sum() >= sel.size / 5:
                grid[i, j] = np.median(lab[block][sel], axis=0)
                have[i, j] = True
    if not have.any():
        return None
    nearest = ndi.distance_transform_edt(~have, return_distances=False, return_indices=True)
    grid = grid[nearest[0], nearest[1]]
    rows = np.clip((np.arange(h) + 0.5) / cell - 0.5, 0, gh - 1)
    cols = np.clip((np.arange(w) + 0.5) / cell - 0.5, 0, gw - 1)
    rr, cc = np.meshgrid(rows, cols, indexing="ij")
    return np.stack(
        [ndi.map_coordinates(grid[..., k], [rr, cc], order=1, mode="nearest") for k in range(3)],
        -1,
    )


def unsure_background(rgb: np.ndarray, mask: np.ndarray, settings: UnsureSettings) -> np.ndarray:
    """Pixels the label calls background but that lie within ``band`` of it and are not
    paper-coloured (``H×W`` bool; all False when ``band`` is 0, the mask is empty, or no paper is
    left to learn the paper's colour from)."""
    mask = np.asarray(mask, bool)
    if rgb.shape[:2] != mask.shape:
        raise ValueError(f"frame {rgb.shape[:2]} and mask {mask.shape} differ in size")
    none = np.zeros(mask.shape, bool)
    if settings.band == 0 or not mask.any():
        return none
    near = ndi.distance_transform_edt(~mask) <= settings.band
    lab = rgb2lab(rgb[..., :3]).astype(np.float32)
    ref = paper_colour(lab, ~near, settings.cell)
    if ref is None:  # the plant fills the frame: nothing says what paper looks like
        return none
    delta = np.sqrt(((lab - ref) ** 2).sum(-1))
    return near & ~mask & (delta >= settings.min_delta_e)


def write_unsure(frame: Path, mask: Path, out: Path, settings: UnsureSettings) -> int:
    """Write the unsure pixels of one frame/mask pair as a mask file; returns their count."""
    unsure = unsure_background(load_rgb(frame), read_mask(mask), settings)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_mask(out, unsure)
    return int(unsure.sum())
