"""One answer to "is there a scale on this sheet, and what does it say?" over every kind we read.

Each detector reports its own confidence (0..1, ~1 on a clear scale); the most confident wins.
The kinds are

* ``ticks``: a mm tick ruler (:func:`herbseg.measurement.ruler.detect_ruler_fit`), any orientation;
* ``checker``: a strip of alternating black/white 1 cm blocks, as on colour-checker cards and
  printed herbarium strips (:func:`herbseg.measurement.scale_checker.detect_checker`), any
  orientation.

Short scale bars with a few numbered cm marks are not read: with 5-6 marks ~20 px apart the
period cannot be told from text, stems or a label's ruling reliably enough, and a wrong scale is
worse than none, so those sheets stay unscaled (see BENCHMARKS.md, "Scales on real sheets").
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from skimage.measure import block_reduce

from herbseg.measurement.ruler import detect_ruler_fit, to_grey
from herbseg.measurement.scale_checker import detect_checker

_CHECKER_LONG_SIDE = 1000  # the checker scan runs on the sheet reduced by whole steps to ~this


@dataclass(frozen=True)
class Detection:
    """A scale found on a sheet, with what a person needs to check it.

    ``start``/``end`` are the (x, y) pixel ends of the span the scale was measured over, in the
    pixels of the image passed to :func:`detect_scale`.
    """

    px_per_mm: float
    confidence: float
    kind: str  # "ticks" | "checker"
    orientation: str  # "horizontal" | "vertical"
    start: tuple[float, float]
    end: tuple[float, float]

    @property
    def span_px(self) -> float:
        return math.dist(self.start, self.end)

    def scaled(self, factor: float) -> Detection:
        """The same detection in an image ``factor`` times larger."""
        return Detection(
            self.px_per_mm * factor,
            self.confidence,
            self.kind,
            self.orientation,
            (self.start[0] * factor, self.start[1] * factor),
            (self.end[0] * factor, self.end[1] * factor),
        )


def detect_scale(
    rgb: np.ndarray, approx_px_per_mm: tuple[float, float] = (1.2, 60.0)
) -> Detection | None:
    """The most confident scale of any kind on ``rgb``, or ``None`` when nothing looks like one.

    ``approx_px_per_mm`` bounds what is searched for: the tick ruler needs >= 2 px/mm to resolve
    mm ticks; the 1 cm checker blocks are searched up to 8 px/mm on the image reduced by whole
    steps to a long side of ~1000 px (a 43 cm sheet at ~2.3 px/mm, where the Violaceae strips
    are read within 0.4 %), so their cost stays that of a phone photograph.
    """
    grey = to_grey(rgb)
    if grey.ndim != 2 or min(grey.shape) < 16:
        return None
    found: list[Detection] = []
    lo, hi = approx_px_per_mm
    if hi >= 2.0:
        tick = detect_ruler_fit(grey, (max(2.0, lo), hi))
        if tick is not None:
            found.append(
                Detection(
                    tick.px_per_mm,
                    tick.confidence,
                    "ticks",
                    "vertical" if tick.vertical else "horizontal",
                    tick.start,
                    tick.end,
                )
            )
    # cm blocks stay >= ~10 px wide on a sheet reduced to ~1000 px; the scan costs per pixel
    k = max(1, int(max(grey.shape) // _CHECKER_LONG_SIDE))
    small = block_reduce(grey, (k, k), np.mean) if k > 1 else grey
    checker = detect_checker(small, (lo / k, min(hi / k, 8.0)))
    if checker is not None:

        def full(p: tuple[float, float]) -> tuple[float, float]:
            return (k * p[0] + (k - 1) / 2, k * p[1] + (k - 1) / 2)

        found.append(
            Detection(
                checker.px_per_mm * k,
                checker.confidence,
                "checker",
                checker.orientation,
                full(checker.start),
                full(checker.end),
            )
        )
    return max(found, key=lambda d: d.confidence, default=None)
