"""Scales other than the horizontal mm ruler for synthetic sheets: checker strips, short bars.

Real collections mix scale kinds (issue 21): colour-checker cards with a column of black/white
1 cm blocks along a side, printed strips along the top, short scale bars with a few numbered cm
marks, and tick rulers turned vertical. The generator draws them (``synth.scale_kinds``) so the
demo exercises every detector on sheets whose true px/mm is known exactly. Every drawing puts
mark ``k`` at ``start + k * period`` rounded per mark, never accumulated, like the tick ruler.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

# kinds a synthetic sheet may carry; "ticks" is the horizontal mm ruler of herbseg.synth.sheets
SCALE_KINDS = ("ticks", "ticks-vertical", "checker", "checker-vertical", "bar-vertical")


def is_vertical(kind: str) -> bool:
    return kind.endswith("-vertical")


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


def checker_strip(
    ppm: float, length_px: int, height_px: int, rng: np.random.Generator | None = None
) -> tuple[np.ndarray, dict]:
    """A horizontal black card with a row of alternating white/black 1 cm blocks and cm numbers.

    Like the Violaceae strips: numbers above, the blocks in a band below them, grey patches after
    the last block. Returns RGBA and the truth (block edges in px from the strip's left end).
    """
    rng = rng or np.random.default_rng(0)
    img = Image.new("RGBA", (length_px, height_px), (18, 18, 18, 255))
    draw = ImageDraw.Draw(img)
    start = rng.uniform(2.0, 4.0) * ppm
    n_cm = int((length_px - start - 25 * ppm) / (10 * ppm))
    n_cm = max(1, min(n_cm, 13))
    top, bottom = round(0.45 * height_px), round(0.8 * height_px)
    font = _font(max(8, round(0.3 * height_px)))
    edges = []
    for k in range(n_cm + 1):
        x = start + k * 10 * ppm
        edges.append(x)
        if k < n_cm and k % 2 == 1:  # white blocks 1-2, 3-4, ...: block 0-1 stays black
            x1 = start + (k + 1) * 10 * ppm
            draw.rectangle((round(x), top, round(x1) - 1, bottom), fill=(238, 238, 232, 255))
        draw.text((x - 2, 1), str(k), fill=(230, 230, 230, 255), font=font)
    # grey patches after the blocks: patch and gap lengths differ from a block on purpose
    x = start + n_cm * 10 * ppm + 6 * ppm
    for grey in (240, 190, 140, 90):
        if x + 12 * ppm > length_px:
            break
        draw.rectangle((round(x), top - 4, round(x + 12 * ppm), bottom), fill=(grey,) * 3 + (255,))
        x += 16 * ppm
    return np.asarray(img), {"edges_px": edges, "mm_per_block": 10.0, "n_cm": n_cm}


def scale_bar(
    ppm: float, n_cm: int, rng: np.random.Generator | None = None
) -> tuple[np.ndarray, dict]:
    """A short horizontal scale bar: a line with a mark every cm and the numbers 0 and n_cm.

    Returned horizontal; rotate for a vertical one. No detector reads bars yet (see
    :mod:`herbseg.measurement.scale_detect`), so sheets with one are expected to stay unscaled.
    """
    rng = rng or np.random.default_rng(0)
    pad = round(3 * ppm)
    length = round(n_cm * 10 * ppm)
    w, h = length + 2 * pad + round(4 * ppm), round(6 * ppm)
    img = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    lw = max(1, round(0.3 * ppm))
    y = h - pad
    draw.line((pad, y, pad + length, y), fill=(20, 20, 20, 255), width=lw)
    marks = []
    for k in range(n_cm + 1):
        x = round(pad + k * 10 * ppm)
        marks.append(x)
        draw.line((x, y, x, y - round(2 * ppm)), fill=(20, 20, 20, 255), width=lw)
    font = _font(max(8, round(2 * ppm)))
    draw.text((pad + length + lw + 2, y - round(2.5 * ppm)), str(n_cm), fill=(20, 20, 20, 255),
              font=font)  # fmt: skip
    return np.asarray(img), {"marks_px": marks, "mm_per_mark": 10.0}


def draw_scale(kind: str, ppm: float, box_w: int, box_h: int, rng: np.random.Generator) -> tuple:
    """RGBA of a scale of ``kind`` filling a ``box_w`` x ``box_h`` box, and its truth.

    Vertical kinds are drawn horizontally in the transposed box and turned, so a vertical
    scale is the same drawing read top to bottom. ``ticks`` kinds are drawn by the caller
    (:func:`herbseg.synth.sheets._ruler`); here only the others.
    """
    long, short = (box_h, box_w) if is_vertical(kind) else (box_w, box_h)
    if kind.startswith("checker"):
        rgba, truth = checker_strip(ppm, long, short, rng)
    elif kind.startswith("bar"):
        n_cm = int(min(5, max(1, (long - 8 * ppm) // (10 * ppm))))
        bar, truth = scale_bar(ppm, n_cm, rng)
        rgba = np.zeros((short, long, 4), np.uint8)
        bh, bw = min(bar.shape[0], short), min(bar.shape[1], long)
        rgba[:bh, :bw] = bar[:bh, :bw]
    else:
        raise ValueError(f"unknown scale kind {kind!r}; one of {SCALE_KINDS}")
    if is_vertical(kind):
        rgba = np.ascontiguousarray(np.rot90(rgba, -1))  # reads top to bottom
    return rgba, {"kind": kind, **truth}
