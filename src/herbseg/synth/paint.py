"""Painting on a synthetic sheet while recording what was painted: the truth of a mask is the
set of pixels its part changed, so a part cannot be drawn without being labelled."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PIL import Image, ImageDraw

from herbseg.synth import sheets as S


def draw_marked(
    scene: S._Scene, mask: np.ndarray, paint: Callable[[ImageDraw.ImageDraw], None]
) -> None:
    """Run ``paint(draw)`` on the canvas and record every pixel it changed in ``mask``."""
    before = scene.canvas.copy()
    img = Image.fromarray(scene.canvas)
    paint(ImageDraw.Draw(img))
    scene.canvas[:] = np.asarray(img)
    mask |= (scene.canvas != before).any(-1)


def pick_colour(rng: np.random.Generator, palette: np.ndarray, jitter: float = 8.0) -> tuple:
    """One colour of ``palette``, jittered per channel, as the RGB tuple PIL draws with."""
    c = palette[rng.integers(len(palette))] + rng.normal(0, jitter, 3)
    return tuple(int(v) for v in np.clip(c, 0, 255))
