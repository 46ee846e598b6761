"""Pixel colours in CIELAB, converted only where a rule looks.

Edge refinement reads the colours of a mask's band, scale cards those of a card's marks and the
sheet's edge the lightness of a band round the paper: a small share of a sheet each, so only
those pixels are converted, never the whole sheet. Predict also asks whether a sheet has colour
at all (:func:`is_greyscale`).
"""

from __future__ import annotations

import numpy as np
from skimage.color import rgb2lab


def lab_of(rgb: np.ndarray, where: np.ndarray) -> np.ndarray:
    """CIELAB values (``n×3``) of the pixels of ``rgb`` (uint8) that ``where`` selects, in
    row-major order."""
    return rgb2lab(rgb[where][:, None, :])[:, 0, :]


def lightness(rgb: np.ndarray) -> np.ndarray:
    """CIELAB L* of RGB pixels (uint8, any shape ``…×3``), as :func:`skimage.color.rgb2lab` gives
    it for sRGB under D65, without converting the other two channels."""
    c = np.arange(256) / 255.0
    lin = np.where(c > 0.04045, ((c + 0.055) / 1.055) ** 2.4, c / 12.92)
    y = 0.212671 * lin[rgb[..., 0]] + 0.715160 * lin[rgb[..., 1]] + 0.072169 * lin[rgb[..., 2]]
    return np.where(y > 0.008856, 116 * np.cbrt(y) - 16, 903.3 * y)


def is_greyscale(rgb: np.ndarray, spread: int = 8, share: float = 0.001) -> bool:
    """Whether an RGB image (uint8, ``h×w×3``) was scanned in grey levels: at most ``share`` of
    its pixels (every fourth row and column) have channels more than ``spread`` levels apart.
    A JPEG of a grey scan keeps its three channels within a few levels of each other; cream paper
    alone is 20-40 apart, and a leaf, a colour chart or a coloured label further. Why it matters:
    a network trained on colour frames misses about a sixth of the plant on grey ones
    (BENCHMARKS.md, "Greyscale scans")."""
    px = rgb[::4, ::4].reshape(-1, 3).astype(np.int16)
    return float((np.ptp(px, axis=1) > spread).mean()) <= share
