"""Each leaf-sized component of a mask as a small fixed-size image, for the intact-leaf classifier.

Hussein et al. (2021) cut every connected component out of the cleaned leaf mask and let a CNN
decide from that binary image whether it is one intact leaf. The components here are exactly the
ones ``traits.leaf_traits`` measures (8-connected, specks below ``min_area_px`` dropped, raster
order), so the classifier's ``leaf_id`` is the measured ``leaf_id``.

A crop is square around the component's bounding box (aspect kept, a small margin), scaled to
``size`` pixels with area averaging. Planes, in the order of ``inputs``:

* ``mask``: the component alone (other components in its box are blanked: the paper's input);
* ``size``: the component's size relative to the sheet's median component, as one constant plane,
  because a crop scaled to a fixed size no longer shows that a fragment is small;
* ``rgb``: the sheet's colours in the same square (three planes), to test whether texture helps.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image
from skimage.measure import label, regionprops

INPUTS = ("mask", "size", "rgb")
_MARGIN = 0.08  # share of the square's side left around the component's box


@dataclass(frozen=True)
class Component:
    """One component as ``leaf_traits`` numbers it: id, box (exclusive max) and its own pixels."""

    leaf_id: int
    bbox: tuple[int, int, int, int]  # minr, minc, maxr, maxc
    image: np.ndarray  # bool, box-sized
    centroid_x: float
    centroid_y: float
    area: int


def components(mask: np.ndarray, min_area_px: int) -> list[Component]:
    """The leaf-sized 8-connected components in ``leaf_traits`` order (ids 1..n)."""
    labels = label(np.asarray(mask) != 0, connectivity=2)
    out = []
    for r in regionprops(labels):
        if r.area < min_area_px:
            continue
        cy, cx = r.centroid
        out.append(
            Component(len(out) + 1, tuple(r.bbox), r.image, float(cx), float(cy), int(r.area))
        )
    return out


def n_planes(inputs: Sequence[str]) -> int:
    unknown = set(inputs) - set(INPUTS)
    if unknown or "mask" not in inputs:
        raise ValueError(f"classifier inputs must include 'mask' and be among {INPUTS}: {inputs}")
    return sum(3 if i == "rgb" else 1 for i in inputs)


def _square(bbox: tuple[int, int, int, int]) -> tuple[int, int, int]:
    """Top, left and side of the square crop around a box."""
    minr, minc, maxr, maxc = bbox
    side = max(maxr - minr, maxc - minc)
    side = int(np.ceil(side / (1 - 2 * _MARGIN))) + 2
    top = (minr + maxr - side) // 2
    left = (minc + maxc - side) // 2
    return top, left, side


def _place(patch: np.ndarray, top: int, left: int, side: int, shape, fill) -> np.ndarray:
    """``side``×``side`` window of an image at (top, left), ``fill`` outside the image."""
    out = np.full((side, side, *patch.shape[2:]), fill, dtype=patch.dtype)
    r0, c0 = max(top, 0), max(left, 0)
    r1, c1 = min(top + side, shape[0]), min(left + side, shape[1])
    if r0 < r1 and c0 < c1:
        out[r0 - top : r1 - top, c0 - left : c1 - left] = patch[r0:r1, c0:c1]
    return out


def crop(
    comp: Component,
    shape: tuple[int, int],
    size: int,
    inputs: Sequence[str] = ("mask", "size"),
    rel_size: float = 1.0,
    rgb: np.ndarray | None = None,
) -> np.ndarray:
    """One component as ``(planes, size, size)`` float32 in [0, 1] (``size`` plane in [-1, 1])."""
    top, left, side = _square(comp.bbox)
    minr, minc, maxr, maxc = comp.bbox
    square = np.zeros((side, side), np.uint8)
    square[minr - top : maxr - top, minc - left : maxc - left] = comp.image * 255
    planes = [np.asarray(Image.fromarray(square).resize((size, size), Image.BOX), np.float32) / 255]
    if "size" in inputs:
        value = float(np.clip(np.log2(max(rel_size, 1e-6)) / 3, -1, 1))
        planes.append(np.full((size, size), value, np.float32))
    if "rgb" in inputs:
        if rgb is None:
            raise ValueError("the classifier's inputs include rgb, but no sheet colours were given")
        window = _place(rgb, top, left, side, shape, 255)
        small = np.asarray(Image.fromarray(window).resize((size, size), Image.BOX), np.float32)
        planes.extend(np.moveaxis(small / 255, -1, 0))
    return np.stack(planes)


def sheet_crops(
    mask: np.ndarray,
    min_area_px: int,
    size: int,
    inputs: Sequence[str] = ("mask", "size"),
    rgb: np.ndarray | None = None,
) -> tuple[list[Component], np.ndarray]:
    """All components of one mask and their crops, ``(n, planes, size, size)``."""
    comps = components(mask, min_area_px)
    planes = n_planes(inputs)
    if not comps:
        return comps, np.zeros((0, planes, size, size), np.float32)
    root = np.sqrt([c.area for c in comps])
    median = float(np.median(root))
    x = np.stack(
        [crop(c, mask.shape, size, inputs, float(r / median), rgb) for c, r in zip(comps, root)]
    )
    return comps, x
