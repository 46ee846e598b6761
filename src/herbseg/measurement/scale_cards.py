"""Scale cards, colour bars and barcodes on a sheet: not plant, even where a plant touches them.

Herbaria photograph a sheet with a scale on it: the Korea National Arboretum's black card (a
checker column, colour patches, a sticker and a round disc; 35 of the 345 Violaceae sheets)
stands at the sheet's edge, and a black colour bar with a ruler runs along the top of 90 more. A
network trained on few real sheets half-marks the card's sticker and disc and the white ruler
along the bar, and where a leaf touches the card the marks join the plant, so
:mod:`herbseg.measurement.glued_pictures`, which leaves out whole parts, cannot take them off: on
V05_01_004 three pieces of the card were counted as leaves.

A card is found without a model, by what no plant has: a block much darker than the paper whose
two long sides are straight and parallel over an eighth of the sheet or more. A checker column
cuts notches into a card's side, so each side is read as the outermost edge within a short
window; a leaf's outline, a stem's and a root's curve away within that length. The card's ends
are the first and last rows it spans across most of its width, so a leaf touching its end,
joined to it by a stem beside it, is not taken for card. The block is grey (black, dark grey):
what else passes the shape test on the 345 Violaceae and 12 LeafMachine2 sheets is the brown
cardboard or wood beyond a photographed sheet and glued field photographs (looked at), whose
dark pixels are chroma 15 and above, against 14 at most on every block kept. Its inside is not
mostly light: a dark frame round the whole photograph is not a card.

Inside a found card, what the mask marks is cleared where it is grey (chroma below ``NEUTRAL``:
the sticker, the disc, the checker, the ruler), and what is then left wholly inside the card (a
colour patch) goes too. A leaf that reaches over the card keeps its coloured pixels, joined to the
rest of it outside; a grey or blackened leaf lying over a card loses the part on it. The
wood beyond a photographed sheet, when grey, is found as a card too; clearing what the mask
marks there is right as well. On synthetic sheets the colour charts and barcodes are found.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi
from skimage.morphology import disk

from herbseg.measurement.colour import lab_of
from herbseg.measurement.holes import fill_holes
from herbseg.measurement.small_sheet import SmallSheet

DARKER = 40.0  # L* below the paper's: a card's body is black or dark grey
RUN = 0.12  # of the long side: how far both long sides run straight (the card: 0.27-0.40)
WINDOW = 15  # px: each side is its outermost edge within this many rows (a checker's notches)
SPREAD = 3  # px: how far a straight side may wander
MIN_WIDTH = 6  # px: narrower blocks are stems or lines
NEUTRAL = 15.0  # CIELAB chroma: below it grey (the cards: 14 at most; wood, photographs: 15 up)
LIGHT = 0.5  # share of a card's box that is not dark: above it a frame round the picture
MAX_AREA = 0.3  # of the sheet: a larger block is the table around it
OPEN = 3  # px: what touches a card through a narrower neck stays apart from it
ACROSS = 0.75  # share of the card's width a row spans to be the card's (a checker notch: 0.85)
GROW = 1  # px: the box is grown by this much, so the ruler's white edge along a bar is in it


def _straight(edge: np.ndarray) -> tuple[int, int, float]:
    """The longest run of rows where ``edge`` (-1: no pixel) stays within ``SPREAD`` px, as
    ``(first row, row after the last, median position)``."""
    best = (0, 0, 0.0)
    i, n = 0, len(edge)
    while i < n:
        if edge[i] < 0:
            i += 1
            continue
        j, lo, hi = i, edge[i], edge[i]
        while j + 1 < n and edge[j + 1] >= 0:
            lo2, hi2 = min(lo, edge[j + 1]), max(hi, edge[j + 1])
            if hi2 - lo2 > SPREAD:
                break
            j, lo, hi = j + 1, lo2, hi2
        if j + 1 - i > best[1] - best[0]:
            best = (i, j + 1, float(np.median(edge[i : j + 1])))
        i = j + 1
    return best


def _sides(part: np.ndarray) -> tuple[tuple[int, int, float], tuple[int, int, float]]:
    """The straight runs of ``part``'s left and right sides (its box's rows)."""
    rows = part.any(axis=1)
    big = part.shape[1] + 1
    first = np.where(rows, part.argmax(axis=1), big)
    last = np.where(rows, part.shape[1] - 1 - part[:, ::-1].argmax(axis=1), -1)
    first = ndi.minimum_filter1d(first, WINDOW, mode="nearest")
    last = ndi.maximum_filter1d(last, WINDOW, mode="nearest")
    return _straight(np.where(first == big, -1, first)), _straight(last)


def _ends(part: np.ndarray, r0: int, r1: int, c0: int, c1: int) -> tuple[int, int]:
    """The card's first and last rows between its sides ``c0:c1``: the first and last that the
    part spans across at least ``ACROSS`` of that width, within ``WINDOW`` of the sides' runs
    ``r0:r1`` (which the window stretches past the corners). A leaf lying over a corner, or
    joined to the card above it by a stem along its side, spans only part of the card's width."""
    lo, hi = max(0, r0 - WINDOW), min(part.shape[0], r1 + WINDOW)
    across = np.flatnonzero(part[lo:hi, c0:c1].mean(axis=1) >= ACROSS)
    return (lo + int(across[0]), lo + int(across[-1]) + 1) if across.size else (r0, r1)


def find_cards(sheet: SmallSheet) -> list[tuple[int, int, int, int]]:
    """Boxes ``(x0, y0, x1, y1)`` of the scale cards, colour bars and barcodes (and of grey table
    strips beyond a photographed sheet), on the grid ``sheet`` was made from (a card's long side
    is ~200 px on the small sheet)."""
    (w, h), lab = sheet.size, sheet.lab
    sh, sw = lab.shape[:2]
    lightness, chroma = lab[..., 0], np.hypot(lab[..., 1], lab[..., 2])
    # the paper is the bright part of the sheet (as for glued pictures)
    paper = float(np.median(lightness[lightness >= np.percentile(lightness, 75)]))
    dark = lightness < paper - DARKER
    # closed and filled, so the sticker, the patches and the white squares inside a card are card
    block = fill_holes(ndi.binary_closing(dark, iterations=2))
    block = ndi.binary_opening(block, disk(OPEN))
    labels, _ = ndi.label(block)
    need = RUN * max(sh, sw)
    fx, fy = sheet.fx, sheet.fy
    boxes = []
    for i, (ys, xs) in enumerate(ndi.find_objects(labels), start=1):
        part = labels[ys, xs] == i
        if max(part.shape) < need:
            continue
        for across in (False, True):  # upright sides, then lying ones
            view = part.T if across else part
            (a0, a1, left), (b0, b1, right) = _sides(view)
            if min(a1 - a0, b1 - b0) < need or right + 1 - left < MIN_WIDTH:
                continue
            c0, c1 = round(left), round(right) + 1
            r0, r1 = _ends(view, min(a0, b0), max(a1, b1), c0, c1)
            if across:
                x0, y0, x1, y1 = xs.start + r0, ys.start + c0, xs.start + r1, ys.start + c1
            else:
                x0, y0, x1, y1 = xs.start + c0, ys.start + r0, xs.start + c1, ys.start + r1
            if (x1 - x0) * (y1 - y0) > MAX_AREA * sw * sh:
                continue
            inside = dark[y0:y1, x0:x1]
            if 1.0 - inside.mean() > LIGHT or np.median(chroma[y0:y1, x0:x1][inside]) >= NEUTRAL:
                continue
            x0, y0 = max(0, x0 - GROW), max(0, y0 - GROW)
            x1, y1 = min(sw, x1 + GROW), min(sh, y1 + GROW)
            boxes.append(
                (int(x0 * fx), int(y0 * fy), min(w, round(x1 * fx)), min(h, round(y1 * fy)))
            )
            break
    return boxes


def drop_cards(mask: np.ndarray, rgb: np.ndarray, sheet: SmallSheet) -> np.ndarray:
    """``mask`` without what it marks on the scale cards of ``rgb`` (both on the same grid;
    ``sheet`` is ``rgb`` made small): its grey pixels there, then the parts left wholly inside a
    card. An empty mask is returned without looking for cards."""
    if not mask.any():
        return mask
    boxes = find_cards(sheet)
    if not boxes:
        return mask
    mask = mask.copy()
    h, w = mask.shape
    for x0, y0, x1, y1 in boxes:
        card = mask[y0:y1, x0:x1]
        if not card.any():
            continue
        lab = lab_of(rgb[y0:y1, x0:x1], card)
        grey = np.zeros_like(card)
        grey[card] = np.hypot(lab[:, 1], lab[:, 2]) < NEUTRAL
        card &= ~grey
        # a part with no pixel in the ring round the card lies wholly inside it
        wy0, wx0, wy1, wx1 = max(0, y0 - 1), max(0, x0 - 1), min(h, y1 + 1), min(w, x1 + 1)
        window = mask[wy0:wy1, wx0:wx1]
        labels, n = ndi.label(window, structure=np.ones((3, 3), bool))
        if n == 0:
            continue
        ring = np.ones(window.shape, bool)
        ring[y0 - wy0 : y1 - wy0, x0 - wx0 : x1 - wx0] = False
        joined = np.zeros(n + 1, bool)
        joined[labels[ring]] = True
        joined[0] = True
        window[~joined[labels]] = False
    return mask
