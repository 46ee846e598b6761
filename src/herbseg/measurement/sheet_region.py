"""The sheet within its image: where a plant can be, as opposed to the table or scanner lid.

A photographed or scanned herbarium sheet often shows what lies beyond the paper: a black
scanner lid, a wooden table, a ruler and colour chart laid beside the sheet. A network trained on
few real sheets half-marks the long dark edges of those, and edge refinement, whose colour model
calls anything not paper-coloured "plant", can follow them (LeafMachine2: strips of the black
border added to the masks, counted as leaves). The paper is the largest bright region of the
image (with any piece of comparable size: a plant can cut the paper in two); the sheet is the
convex hull, so labels, stamps and the plant itself, all inside the paper's outline, stay in it.
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from scipy import ndimage as ndi
from skimage.color import rgb2lab
from skimage.filters import threshold_otsu
from skimage.morphology import convex_hull_image

from herbseg.io.geometry import image_to_grid, output_size

# The hull is found on the image brought to this long side: the table beyond a sheet is tens of
# sheet pixels wide at least, and the hull of a 256-px picture costs a few milliseconds.
LONG_SIDE = 256
# Bright pieces this large against the largest are paper (the halves of a sheet a plant crosses);
# smaller ones are a ruler or a colour chart lying beside the sheet (LeafMachine2: 3-4 % of it).
PIECE = 0.1


def find_sheet(lab: np.ndarray, margin: float) -> np.ndarray:
    """The sheet: convex hull of the bright components at least ``PIECE`` of the largest's size,
    shrunk by ``margin`` of its size.

    A scan that is all paper gives the whole frame; a photograph on a table gives the paper
    only, so the table's wood grain and shadows can never be taken for plant.
    """
    lightness = lab[..., 0]
    if float(lightness.max() - lightness.min()) < 1.0:
        return np.ones(lightness.shape, bool)
    bright = lightness > threshold_otsu(lightness)
    labels, n = ndi.label(bright)
    if n == 0:
        return np.ones(lightness.shape, bool)
    sizes = np.bincount(labels.ravel())[1:]
    # every large piece of paper, not only the largest: a leaf or culm that crosses the sheet from
    # edge to edge cuts the paper in two, and the hull of one half would cut the plant off
    paper = np.isin(labels, 1 + np.flatnonzero(sizes >= PIECE * sizes.max()))
    step = max(1, max(paper.shape) // 256)  # the hull of a subsampled mask is as good and fast
    hull = convex_hull_image(paper[::step, ::step])
    hull = (
        np.asarray(
            Image.fromarray(hull.astype(np.uint8) * 255).resize(
                (paper.shape[1], paper.shape[0]), Image.Resampling.NEAREST
            )
        )
        >= 128
    )
    pad = round(margin * max(paper.shape))
    if pad > 0:
        hull = ndi.binary_erosion(hull, iterations=pad, border_value=0)
    return hull if hull.any() else np.ones(lightness.shape, bool)


def sheet_region(rgb: np.ndarray) -> np.ndarray | None:
    """The sheet on ``rgb``'s grid (``h×w`` bool), grown by one pixel of the ``LONG_SIDE``
    picture it is found on so that a plant touching the paper's edge keeps that edge; None when
    the sheet fills the image (a scan of the paper alone: nothing to clear)."""
    h, w = rgb.shape[:2]
    small = image_to_grid(rgb, *output_size(w, h, LONG_SIDE))
    hull = find_sheet(rgb2lab(small), margin=0.0)
    hull = ndi.binary_dilation(hull, iterations=1)
    if hull.all():
        return None
    picture = Image.fromarray(hull.astype(np.uint8) * 255)
    return np.asarray(picture.resize((w, h), Image.Resampling.NEAREST)) >= 128
