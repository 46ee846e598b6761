"""Euclidean distances on a mask's grid, for thresholds: deeper than, within, wider than.

The predict path thresholds distance transforms on the mask's grid (the refinement's outline
band and paper ring, the thin parts' width), and on a herbarium scan at its own size that grid
has 24-70 MP. SciPy's ``distance_transform_edt`` computes a feature transform first and holds
16 bytes a pixel; OpenCV's exact transform (``DIST_L2`` with ``DIST_MASK_PRECISE``, Felzenszwalb
and Huttenlocher) gives the same distances in float32 over 20x faster (3.8 s -> 0.16 s on a
5000x7000 mask, 2 cores; BENCHMARKS.md, "A refinement test that does not depend on the grid").

The answers are SciPy's, pixel for pixel. A distance on a pixel grid is the square root of a
whole number ``k``, so ``d > r`` holds exactly when ``k > floor(r²)``: the comparison is made
against a cut half-way between ``sqrt(floor(r²))`` and the next achievable distance, which float32
rounding (a few millionths) cannot cross.
"""

from __future__ import annotations

import math

import cv2
import numpy as np


def distance_inside(mask: np.ndarray) -> np.ndarray:
    """For each True pixel of ``mask``, its distance to the nearest False pixel (0 on False
    pixels), float32. Pixels beyond the array are not False pixels: with none in the array,
    every distance is huge (OpenCV's sentinel), where SciPy measures from a point beyond the
    array's corner."""
    return cv2.distanceTransform(
        np.ascontiguousarray(mask, dtype=np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE
    )


def cut(radius: float) -> float:
    """A threshold that decides ``distance > radius`` exactly for distances on a pixel grid
    (module docstring)."""
    if radius < 0:
        return -1.0
    m = math.floor(radius * radius)
    return (math.sqrt(m) + math.sqrt(m + 1)) / 2


def deeper_than(mask: np.ndarray, radius: float) -> np.ndarray:
    """The pixels of ``mask`` farther than ``radius`` from every pixel outside it."""
    return distance_inside(mask) > cut(radius)


def within(sources: np.ndarray, radius: float) -> np.ndarray:
    """The pixels at most ``radius`` from a True pixel of ``sources`` (those pixels included)."""
    return distance_inside(~sources) <= cut(radius)


def wide_parts(mask: np.ndarray, radius: float) -> np.ndarray:
    """The morphological opening of ``mask`` by a disc of ``radius``: the parts of it wider than
    the disc (two distance transforms; cheaper than a large structuring element)."""
    return within(deeper_than(mask, radius), radius)
