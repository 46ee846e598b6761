"""Centimetre checker strips: alternating black and white 1 cm blocks, in any orientation.

Colour-checker cards and the printed strips of many herbaria carry a row of equal black and
white blocks, one centimetre each, beside their colour patches. In a phone photograph at ~2 px/mm
their tick rulers are too fine to resolve, but the blocks (~20 px) stay sharp, so they are the
scale this module measures.

How: along every line of the image (rows, columns, each also at small shears for a slightly
rotated card) the block edges are the crossings of the grey profile through the middle of its
local black and white levels. A strip is a run of >= ``MIN_BLOCKS`` consecutive edge-to-edge
spacings that agree within ``_SPACING_TOL``; a line fit of edge index against edge position
gives the block length to a fraction of a pixel. Lines of one strip agree with each other; the
largest group of agreeing lines is the answer, its block length / 10 is px/mm.

What it rejects, and why: barcodes (bars a few pixels wide, unequal), grey ramps and colour
patches (patches and gaps of unequal length), text. What it cannot tell: a strip of 5 mm or
2 cm blocks would be read as 1 cm; every strip on the Violaceae sheets is 1 cm.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

BLOCK_MM = 10.0  # one block is one centimetre
MIN_BLOCKS = 6  # six centimetres of blocks at least: fewer is too easy to find by chance
_MIN_CONTRAST = 0.30  # white block minus black block, grey 0..1
_SPACING_TOL = 0.15  # a spacing may differ this much from the run's median spacing
_SHEARS_DEG = (0.0, 2.0, -2.0)  # a line follows a 5 px thick row of blocks for ~1 degree
_END_TOL = 0.04  # an end edge further than this (in blocks) off the grid is dropped
_LINE_STEP = 1  # every line: the block row of a top strip is only ~5 px thick
_MIN_LINES = 3  # lines that must agree on a strip


@dataclass(frozen=True)
class CheckerFit:
    """One detected strip, in the coordinates of the image passed in."""

    px_per_mm: float
    confidence: float
    orientation: str  # "horizontal" | "vertical"
    angle_deg: float  # tilt of the strip's axis from its orientation
    n_blocks: int
    # end points (x, y) of the measured span and the block edges along it, for the evidence crop
    start: tuple[float, float]
    end: tuple[float, float]
    edges: tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class _Run:
    line: int
    transposed: bool
    tan: float
    edges: np.ndarray  # sub-pixel positions along the line
    block: float  # fitted block length (px)
    residual: float  # std of edges around the fit, in blocks


def _crossings(bands: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Band index and sub-pixel position of every crossing through the local mid-grey.

    The mid-grey is halfway between the local black and white (max/min filters over a few
    blocks), so shading across a photograph does not move the edges.
    """
    hi = ndimage.maximum_filter1d(bands, window, axis=1)
    lo = ndimage.minimum_filter1d(bands, window, axis=1)
    d = bands - 0.5 * (hi + lo)
    strong = (hi - lo) >= _MIN_CONTRAST
    sign = d > 0
    cross = (sign[:, 1:] != sign[:, :-1]) & strong[:, 1:] & strong[:, :-1]
    r, i = np.nonzero(cross)
    a, b = d[r, i], d[r, i + 1]
    return r, i + a / np.where(a - b == 0, 1, a - b)


def _equal_runs(
    line: np.ndarray, pos: np.ndarray, block_range: tuple[float, float]
) -> list[tuple[int, int]]:
    """``(first, last)`` crossing indices of runs of >= ``MIN_BLOCKS`` near-equal spacings.

    Vectorised over all lines at once: a spacing continues a run when it is in ``block_range``,
    on the same line as the previous one and within ``_SPACING_TOL`` of it. Runs are then split
    once more in Python against their running mean, so slow drift cannot chain unequal blocks.
    """
    if pos.size < MIN_BLOCKS + 1:
        return []
    gap = np.diff(pos)
    valid = (line[1:] == line[:-1]) & (gap >= block_range[0]) & (gap <= block_range[1])
    similar = valid[1:] & valid[:-1] & (np.abs(gap[1:] - gap[:-1]) <= _SPACING_TOL * gap[:-1])
    # runs of True in ``similar``: k similar pairs in a row are k + 1 equal spacings
    padded = np.concatenate([[False], similar, [False]])
    change = np.flatnonzero(padded[1:] != padded[:-1])
    starts, stops = change[::2], change[1::2]
    keep = stops - starts + 1 >= MIN_BLOCKS
    out = []
    for s0, s1 in zip(starts[keep], stops[keep], strict=True):
        gaps = gap[s0 : s1 + 1].tolist()
        i = 0
        while i < len(gaps):
            total, j = gaps[i], i + 1
            while j < len(gaps) and abs(gaps[j] - total / (j - i)) <= _SPACING_TOL * total / (
                j - i
            ):
                total += gaps[j]
                j += 1
            if j - i >= MIN_BLOCKS:
                out.append((int(s0 + i), int(s0 + j)))
            i = j
    return out


def _fit(edges: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Block length from a line fit of edge index against position, and the scatter in blocks.

    Black blocks may print or threshold a little wider than white ones; that bias alternates
    from edge to edge and cancels in the slope over a whole run. An end edge off the fitted grid
    by more than ``_END_TOL`` blocks is dropped and the fit repeated: next to a strip, a gap
    or colour patch of about a block's length extends the run by chance.
    """
    while True:
        n = np.arange(edges.size)
        slope, icpt = np.polyfit(n, edges, 1)
        resid = edges - (icpt + slope * n)
        worst = 0 if abs(resid[0]) >= abs(resid[-1]) else -1
        if abs(resid[worst]) <= _END_TOL * slope or edges.size <= MIN_BLOCKS + 1:
            return edges, float(slope), float(np.std(resid) / slope)
        edges = edges[1:] if worst == 0 else edges[:-1]


def _line_runs(
    grey: np.ndarray, transposed: bool, tan: float, block_range: tuple[float, float]
) -> list[_Run]:
    """Block runs along every ``_LINE_STEP``-th line of one orientation and shear."""
    img = grey.T if transposed else grey
    h, w = img.shape
    cols = np.arange(w)
    lines = np.arange(0, h, _LINE_STEP)
    rows = np.clip(lines[:, None] + np.round(cols * tan).astype(int)[None, :], 0, h - 1)
    bands = img[rows, cols[None, :]] if tan else img[lines]
    window = int(round(2.5 * block_range[1]))
    line, pos = _crossings(bands, window)
    out = []
    for first, last in _equal_runs(line, pos, block_range):
        run, block, resid = _fit(pos[first : last + 1])
        out.append(_Run(int(lines[line[first]]), transposed, tan, run, block, resid))
    return out


def _group(runs: list[_Run]) -> list[list[_Run]]:
    """Runs of nearby lines, same orientation and shear, agreeing on the block and its place."""
    groups: list[list[_Run]] = []
    for run in sorted(runs, key=lambda q: (q.transposed, q.tan, q.line)):
        for g in groups:
            last = g[-1]
            if (
                last.transposed == run.transposed
                and last.tan == run.tan
                and 0 < run.line - last.line <= 3 * _LINE_STEP
                and abs(run.block / last.block - 1) < 0.03
                and min(run.edges[-1], last.edges[-1]) - max(run.edges[0], last.edges[0])
                > 3 * run.block
            ):
                g.append(run)
                break
        else:
            groups.append([run])
    return groups


def _score(group: list[_Run]) -> tuple[float, float, int]:
    """``(px_per_mm, confidence, n_blocks)`` of a group of agreeing lines.

    Confidence multiplies what makes a strip believable, each ~1 on a clear strip: enough lines
    (a strip is thick, a stray pattern thin), enough blocks, edges on their grid (scatter), and
    lines agreeing on the block length.
    """
    blocks = np.array([r.block for r in group])
    n_blocks = int(np.median([r.edges.size - 1 for r in group]))
    weights = np.array([r.edges.size for r in group], dtype=float)
    block = float(np.average(blocks, weights=weights))
    spread = float(np.std(blocks) / block) if len(group) > 1 else 0.05
    resid = float(np.median([r.residual for r in group]))
    factors = (
        min(1.0, len(group) / _MIN_LINES),
        min(1.0, n_blocks / 8),
        math.exp(-((resid / 0.06) ** 2)),
        math.exp(-((spread / 0.02) ** 2)),
    )
    return block / BLOCK_MM, float(np.prod(factors)), n_blocks


def _geometry(group: list[_Run]) -> tuple[tuple, tuple, tuple]:
    """Span end points and block edges of the group's middle line, in image coordinates."""
    mid = group[len(group) // 2]

    def xy(s: float) -> tuple[float, float]:
        along, across = s, mid.line + round(s) * mid.tan
        return (across, along) if mid.transposed else (along, across)

    return xy(mid.edges[0]), xy(mid.edges[-1]), tuple(xy(e) for e in mid.edges)


def detect_checker(
    grey: np.ndarray, approx_px_per_mm: tuple[float, float] = (1.2, 8.0)
) -> CheckerFit | None:
    """The most believable centimetre checker strip on a grey (0..1) image, or ``None``.

    ``approx_px_per_mm`` bounds the block length searched for; the upper end also sets the
    window of the local black/white levels, so keep it near the collection's resolution.
    """
    block_range = (BLOCK_MM * approx_px_per_mm[0], BLOCK_MM * approx_px_per_mm[1])
    best: tuple[float, list[_Run], tuple] | None = None
    for transposed in (False, True):
        for deg in _SHEARS_DEG:
            tan = math.tan(math.radians(deg))
            for g in _group(_line_runs(grey, transposed, tan, block_range)):
                if len(g) < _MIN_LINES:
                    continue
                scored = _score(g)
                if best is None or scored[1] > best[0]:
                    best = (scored[1], g, scored)
    if best is None:
        return None
    _, group, (px_per_mm, confidence, n_blocks) = best
    start, end, edges = _geometry(group)
    tan = group[0].tan
    return CheckerFit(
        px_per_mm=px_per_mm / math.cos(math.atan(tan)),  # a sheared line is 1/cos longer
        confidence=confidence,
        orientation="vertical" if group[0].transposed else "horizontal",
        angle_deg=math.degrees(math.atan(tan)),
        n_blocks=n_blocks,
        start=start,
        end=end,
        edges=edges,
    )
