"""Clean-up of binary plant masks: the one place masks are cleaned before they are measured.

A network (or the classical baseline) leaves specks on paper grain and stains, pinholes inside
leaves and one-pixel fringes; each of these changes a leaf count or a leaf area. Every size here
is in *sheet* pixels, whatever size the mask was written at (``predict.long_side``), so a
setting means the same thing on a thumbnail-sized mask and on the full scan.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import ndimage as ndi
from skimage.morphology import disk, remove_small_holes, remove_small_objects


@dataclass(frozen=True)
class PostprocessSettings:
    """What the ``postprocess:`` config section controls (all off by default).

    ``fill_holes_px``: holes (background enclosed by plant) up to this area are filled; leaves
    have no holes, but a network leaves pinholes on glossy or damaged blades. ``speck_radius_px``:
    a binary opening of this radius removes specks and thin fringes — it also removes stems
    thinner than twice the radius, so keep it small for whole-plant masks.
    ``min_component_px``: connected components smaller than this are dropped. Built from the
    section by :func:`herbseg.config.settings.settings_from` (unknown keys are an error).
    """

    fill_holes_px: int = 0
    speck_radius_px: float = 0.0
    min_component_px: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def with_min_component(self, min_px: int) -> PostprocessSettings:
        """These settings with at least ``min_px`` as the smallest kept component."""
        return PostprocessSettings(
            self.fill_holes_px, self.speck_radius_px, max(self.min_component_px, int(min_px))
        )


def _area(px: float, scale: float) -> int:
    """A sheet-pixel area on a mask with ``scale`` mask pixels per sheet pixel (at least 0)."""
    return max(0, round(px * scale * scale))


def clean(mask: np.ndarray, settings: PostprocessSettings, scale: float = 1.0) -> np.ndarray:
    """Apply the clean-up to a boolean mask; ``scale`` is mask pixels per sheet pixel.

    Order matters: the opening first (it may split a component into specks), then small
    components, then holes (filling last keeps a removed speck from having been a hole's wall).
    The input is not modified.
    """
    out = np.asarray(mask, dtype=bool)
    radius = settings.speck_radius_px * scale
    if radius >= 0.5:
        out = ndi.binary_opening(out, structure=disk(max(1, round(radius))))
    min_px = _area(settings.min_component_px, scale)
    if min_px > 1 and out.any():
        out = remove_small_objects(out, max_size=min_px - 1, connectivity=2)
    hole_px = _area(settings.fill_holes_px, scale)
    if hole_px >= 1 and not out.all():
        out = remove_small_holes(out, max_size=hole_px, connectivity=1)
    return out if out is not mask else out.copy()
