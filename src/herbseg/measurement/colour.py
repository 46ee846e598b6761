"""Pixel colours in CIELAB, converted only where a rule looks.

Edge refinement reads the colours of a mask's band, scale cards those of a card's marks and the
sheet's edge the lightness of a band round the paper: a small share of a sheet each, so only
those pixels are converted, never the whole sheet.
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
