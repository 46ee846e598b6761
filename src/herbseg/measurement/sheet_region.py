"""The sheet within its image: where a plant can be, as opposed to the table or scanner lid.

A photographed or scanned herbarium sheet often shows what lies beyond the paper: a black
scanner lid, a wooden table, a ruler and colour chart laid beside the sheet. A network trained on
few real sheets half-marks the long dark edges of those, and edge refinement, whose colour model
calls anything not paper-coloured "plant", can follow them (LeafMachine2: strips of the black
border added to the masks, counted as leaves). The paper is the largest bright region of the
image (with any piece of comparable size: a plant can cut the paper in two); the sheet is the
convex hull, so labels, stamps and the plant itself, all inside the paper's outline, stay in it.

The hull is found on a small picture (fast), then its edge is placed again on the mask's own
grid, where the paper's outline lies within a few pixels: a coarse hull alone, grown to keep a
plant touching the paper's edge, reached up to a dozen sheet pixels onto the table, and the
network's half-marks there became "leaves" of their own (LeafMachine2: five of LowRes_11's 13).
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage as ndi
from scipy.spatial import ConvexHull, QhullError
from skimage.color import rgb2lab
from skimage.filters import threshold_otsu
from skimage.morphology import convex_hull_image

from herbseg.io.geometry import image_to_grid, output_size
from herbseg.measurement.colour import lightness

# The hull is found on the image brought to this long side: the table beyond a sheet is tens of
# sheet pixels wide at least, and the hull of a 256-px picture costs a few milliseconds.
LONG_SIDE = 256
# The edge is placed again on the mask's grid, read at every k-th pixel so that the grid it is
# placed on has at most this long side: within a pixel or two up to 3000-px sheets, four of a
# 7500-px scan (the coarse hull: a dozen, and 30), at a bounded cost (a 37 MP mask read whole
# took 1.3 s and 0.46 GB; BENCHMARKS.md, "The sheet's edge on the mask's grid").
EDGE_LONG_SIDE = 3000
# Bright pieces this large against the largest are paper (the halves of a sheet a plant crosses);
# smaller ones are a ruler or a colour chart lying beside the sheet (LeafMachine2: 3-4 % of it).
PIECE = 0.1


def find_sheet(lab: np.ndarray, margin: float) -> np.ndarray:
    """The sheet: convex hull of the bright components at least ``PIECE`` of the largest's size,
    shrunk by ``margin`` of its size.

    A scan that is all paper gives the whole frame; a photograph on a table gives the paper
    only, so the table's wood grain and shadows can never be taken for plant.
    """
    light = lab[..., 0]
    if float(light.max() - light.min()) < 1.0:
        return np.ones(light.shape, bool)
    bright = light > threshold_otsu(light)
    labels, n = ndi.label(bright)
    if n == 0:
        return np.ones(light.shape, bool)
    sizes = np.bincount(labels.ravel())[1:]
    # every large piece of paper, not only the largest: a leaf or culm that crosses the sheet from
    # edge to edge cuts the paper in two, and the hull of one half would cut the plant off
    paper = np.isin(labels, 1 + np.flatnonzero(sizes >= PIECE * sizes.max()))
    step = max(1, max(paper.shape) // 256)  # the hull of a subsampled mask is as good and fast
    hull = _to_grid(convex_hull_image(paper[::step, ::step]), paper.shape[1], paper.shape[0])
    pad = round(margin * max(paper.shape))
    if pad > 0:
        hull = ndi.binary_erosion(hull, iterations=pad, border_value=0)
    return hull if hull.any() else np.ones(light.shape, bool)


def sheet_region(rgb: np.ndarray) -> np.ndarray | None:
    """The sheet on ``rgb``'s grid (``h×w`` bool), or None when the sheet fills the image (a scan
    of the paper alone: nothing to clear).

    Found on the ``LONG_SIDE`` picture, then tightened on ``rgb``'s grid, or every k-th pixel of
    it above ``EDGE_LONG_SIDE`` (:func:`_tighten`); it keeps a one-pixel rim beyond the paper so
    that a plant touching the paper's edge keeps that edge. ``rgb`` is uint8."""
    h, w = rgb.shape[:2]
    small = image_to_grid(rgb, *output_size(w, h, LONG_SIDE))
    lab = rgb2lab(small)
    hull = find_sheet(lab, margin=0.0)
    grown = ndi.binary_dilation(hull, iterations=1)
    if grown.all():
        return None
    k = -(-max(h, w) // EDGE_LONG_SIDE)  # every k-th pixel: the edge's grid
    sampled = rgb[::k, ::k]
    sh, sw = sampled.shape[:2]
    inner = ndi.binary_erosion(hull, iterations=2, border_value=0)
    tight = _tighten(
        sampled, _to_grid(grown, sw, sh), _to_grid(inner, sw, sh), threshold_otsu(lab[..., 0])
    )
    return tight if k == 1 else _to_grid(grown, w, h) & _to_grid(tight, w, h)


def _to_grid(mask: np.ndarray, w: int, h: int) -> np.ndarray:
    """A bool mask brought to ``w×h`` by nearest neighbour (it stays a mask)."""
    picture = Image.fromarray(mask.astype(np.uint8) * 255)
    return np.asarray(picture.resize((w, h), Image.Resampling.NEAREST)) >= 128


def _tighten(rgb: np.ndarray, coarse: np.ndarray, inner: np.ndarray, paper: float) -> np.ndarray:
    """The convex hull of the paper's own pixels on ``rgb``'s grid, grown by one pixel, within
    the ``coarse`` region.

    Only the band between ``inner`` (the coarse hull two small pixels in) and the edge of
    ``coarse`` is looked at: the outline lies there. A pixel there is paper when its lightness is
    above the ``paper`` threshold the coarse hull was found with and it is joined to the paper
    inside, so a bright speck of dust on the table does not pull the hull out to it. The hull
    of a set is the hull of each row's two outermost points, which Qhull takes in milliseconds.
    """
    h, w = coarse.shape
    band = coarse & ~inner
    bright = np.zeros((h, w), bool)
    ys, xs = np.nonzero(band)
    bright[ys, xs] = lightness(rgb[ys, xs]) > paper
    labels, n = ndi.label(bright | inner)
    joined = np.zeros(n + 1, bool)
    joined[labels[inner]] = True
    joined[0] = False
    sheet = joined[labels]
    rows = np.flatnonzero(sheet.any(axis=1))
    if rows.size < 2:
        return coarse
    first = sheet[rows].argmax(axis=1)
    last = w - 1 - sheet[rows, ::-1].argmax(axis=1)
    points = np.concatenate([np.column_stack([first, rows]), np.column_stack([last, rows])])
    try:
        vertices = points[ConvexHull(points).vertices]
    except QhullError:  # the paper's pixels on one line: nothing to tighten
        return coarse
    picture = Image.new("L", (w, h), 0)
    outline = [tuple(v) for v in vertices.tolist()]
    draw = ImageDraw.Draw(picture)
    draw.polygon(outline, fill=1)
    draw.line([*outline, outline[0]], fill=1, width=3)  # the one-pixel rim beyond the paper
    return coarse & (np.asarray(picture) > 0)
