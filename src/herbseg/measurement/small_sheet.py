"""A sheet brought to 512 px once, for the rules that find things on it without a model.

Predict clears from every mask what lies in glued pictures
(:mod:`herbseg.measurement.glued_pictures`) and on scale cards
(:mod:`herbseg.measurement.scale_cards`). Both are found on the sheet at the same small size, where
a print or a card is tens of pixels across and a sheet costs milliseconds. Shrinking a 35 MP scan
is the dearer part of either search, so the small sheet and its CIELAB values are made here once
and handed to both, rather than once by each.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from skimage.color import rgb2lab

from herbseg.io.geometry import image_to_grid, output_size

LONG_SIDE = 512


@dataclass(frozen=True)
class SmallSheet:
    """``rgb`` (uint8) is the sheet at ``LONG_SIDE``; ``size`` the grid ``(w, h)`` it came from,
    which found boxes are brought back to (``fx``, ``fy``: that grid's pixels per small pixel)."""

    rgb: np.ndarray
    size: tuple[int, int]

    @property
    def fx(self) -> float:
        return self.size[0] / self.rgb.shape[1]

    @property
    def fy(self) -> float:
        return self.size[1] / self.rgb.shape[0]

    @cached_property
    def lab(self) -> np.ndarray:
        """The small sheet in CIELAB (``h×w×3``, float64), converted on first use."""
        return rgb2lab(self.rgb)


def small_sheet(rgb: np.ndarray) -> SmallSheet:
    """``rgb`` (a sheet on its mask's grid, uint8) brought to ``LONG_SIDE``."""
    h, w = rgb.shape[:2]
    return SmallSheet(image_to_grid(rgb, *output_size(w, h, LONG_SIDE)), (w, h))
