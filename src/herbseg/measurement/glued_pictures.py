"""Pictures glued onto a sheet: field photographs of the living plant, printed illustrations.

Many herbaria glue a print of the living plant beside the specimen (one of the Violaceae
herbaria does so on about half of its sheets). The print shows leaves and flowers, so a network
marks them, and every pixel it marks is leaf area that is not on the sheet. A picture is found
without a model, by what no plant is: a large block, upright on the sheet and not a strip, that
fills its bounding box with colour unlike the paper (a leaf fills at most the π/4 of its box an
ellipse does, a plant far less), reaches along at least one straight side of the box, and is
textured inside (a plain envelope or a card is one colour; a photograph is not). On the 345
Violaceae and 12 LeafMachine2 sheets this finds the field photographs and nothing else (looked
at: ``benchmarks/glued_pictures.py``). Predicted components that lie mostly
inside such a rectangle are left out of the mask; a plant that only reaches into one keeps all
of itself, so a leaf lying over a photograph's corner is never cut.

What it does not find: a picture glued at a slant, or one the plant crosses (their outline is not
a rectangle), and pictures smaller than ``MIN_AREA`` of the sheet. Those stay as they were.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage as ndi
from skimage.morphology import disk

from herbseg.measurement.small_sheet import SmallSheet

MIN_AREA = 0.005  # of the sheet: smaller blocks are stamps, barcodes, specks
MAX_AREA = 0.3  # of the sheet: a larger block is the specimen itself, or the table around it
DIFFERENT = 60.0  # summed |RGB - paper| above which a pixel is not paper
SOLID = 0.85  # share of the box's pixels that are not paper
SIDE = 0.75  # share of its longest-covered straight side the block reaches
ASPECT = (0.4, 2.5)  # width / height: narrower blocks are rulers, colour bars, scanner edges
TEXTURE = 20.0  # grey-level standard deviation inside: above it a picture, below a plain card
OPEN = 4  # px on the small sheet: what touches a picture through a narrower neck stays apart
INSIDE = 0.5  # a predicted component with at least this share inside a picture is left out


def find_pictures(sheet: SmallSheet) -> list[tuple[int, int, int, int]]:
    """Boxes ``(x0, y0, x1, y1)`` of the glued pictures, on the grid ``sheet`` was made from
    (a print is a tenth of the sheet or more: ~50 px on the small sheet)."""
    small = sheet.rgb.astype(np.float32)
    sh, sw = small.shape[:2]
    grey = small.mean(-1)
    # the paper is the bright part of the sheet: the median of all pixels is a leaf's colour on a
    # sheet that leaves cover by half (LeafMachine2)
    bright = grey >= np.percentile(grey, 75)
    paper = np.median(small[bright], axis=0)
    # unlike the paper and darker than it: a white label on cream paper is brighter, and a leaf
    # lying on a label must not make the label a picture
    other = (np.abs(small - paper).sum(-1) > DIFFERENT) & (grey < paper.mean())
    # closed, so a photograph's pale flowers do not split it; opened, so a stem or a thin leaf
    # touching it does not join it to the plant
    block = ndi.binary_opening(ndi.binary_closing(other, iterations=2), disk(OPEN))
    labels, _ = ndi.label(block)
    boxes = []
    for i, sl in enumerate(ndi.find_objects(labels), start=1):
        ys, xs = sl
        bh, bw = ys.stop - ys.start, xs.stop - xs.start
        if not MIN_AREA * sh * sw <= bh * bw <= MAX_AREA * sh * sw:
            continue
        if not ASPECT[0] <= bw / bh <= ASPECT[1]:
            continue
        if ys.start == 0 or xs.start == 0 or ys.stop == sh or xs.stop == sw:
            continue  # the table or backdrop around a photographed sheet, not a glued print
        inner = labels[sl] == i
        edges = (inner[:2].mean(), inner[-2:].mean(), inner[:, :2].mean(), inner[:, -2:].mean())
        if max(edges) < SIDE or other[sl].mean() < SOLID:
            continue
        if grey[sl][inner].std() < TEXTURE:
            continue
        fx, fy = sheet.fx, sheet.fy
        boxes.append(
            (round(xs.start * fx), round(ys.start * fy), round(xs.stop * fx), round(ys.stop * fy))
        )
    return boxes


def drop_pictures(mask: np.ndarray, sheet: SmallSheet) -> np.ndarray:
    """``mask`` without its components lying mostly inside a glued picture of ``sheet`` (made
    from the mask's grid); an empty mask is returned without looking for pictures."""
    if not mask.any():
        return mask
    boxes = find_pictures(sheet)
    if not boxes:
        return mask
    inside = np.zeros(mask.shape, bool)
    for x0, y0, x1, y1 in boxes:
        inside[y0:y1, x0:x1] = True
    labels, n = ndi.label(mask, structure=np.ones((3, 3), bool))
    share = ndi.mean(inside, labels, np.arange(1, n + 1))
    drop = np.concatenate([[False], np.asarray(share) >= INSIDE])
    return mask & ~drop[labels]


def draw_boxes(rgb: np.ndarray, boxes: list[tuple[int, int, int, int]]) -> Image.Image:
    """The sheet with its found pictures outlined in red, for checking by eye."""
    img = Image.fromarray(rgb)
    draw = ImageDraw.Draw(img)
    for box in boxes:
        draw.rectangle(box, outline=(255, 0, 0), width=max(2, max(img.size) // 250))
    return img
