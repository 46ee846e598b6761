"""Rulers on soft scans: how many candidates the ruler scan keeps, side by side.

Why: a slightly soft scan or photograph (a Gaussian blur of 1 px at 4.5 px/mm) keeps a third of
its mm ticks' contrast, but the periodicity scan ranks candidates by spectral peakiness, and blur
raises that of leaf edges and label text while lowering the ruler's: with 12 candidates per
orientation and 12 kept, the ruler fell off the list on every blurred LeafMachine2 sheet. This
reads the rulers of the 12 LeafMachine2 sheets (unblurred, and blurred by each ``--sigma`` then
saved as JPEG, as a soft scan arrives) with the old caps and with the module's, and times
``detect_ruler`` per sheet. ``--also DIR`` adds folders of sheets whose ruler fits must not
change (every sheet's fit is compared; only fits at or above the measure stage's 0.6 count).

Run: PYTHONPATH=src .venv/bin/python benchmarks/soft_rulers.py [--sigma 1.0 1.5]
        [--also ../shared/data/violaceae/images]
Writes a Markdown table to stdout.
"""

from __future__ import annotations

import argparse
import io
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from herbseg.measurement import ruler_scan
from herbseg.measurement.ruler import detect_ruler_fit, to_grey

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
OLD = (12, 12)  # candidates per orientation and shear, and kept, until 2026-12-05
MIN_CONFIDENCE = 0.6  # the measure stage's min_ruler_confidence


def soft(path: Path, sigma: float) -> np.ndarray:
    """The sheet blurred by a Gaussian of ``sigma`` px and saved as JPEG (quality 92)."""
    im = Image.open(path).convert("RGB")
    if sigma:
        im = im.filter(ImageFilter.GaussianBlur(sigma))
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=92)
    return np.asarray(Image.open(buf).convert("RGB"))


def read(grey: np.ndarray, caps: tuple[int, int]) -> tuple[tuple | None, float]:
    """The ruler fit (px/mm, confidence) with these caps, and the seconds it took."""
    keep = ruler_scan._MAX_CANDIDATES, ruler_scan._MAX_KEPT
    ruler_scan._MAX_CANDIDATES, ruler_scan._MAX_KEPT = caps
    try:
        t0 = time.perf_counter()
        fit = detect_ruler_fit(grey, (2.0, 60.0))
        seconds = time.perf_counter() - t0
    finally:
        ruler_scan._MAX_CANDIDATES, ruler_scan._MAX_KEPT = keep
    return (None if fit is None else (fit.px_per_mm, fit.confidence)), seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sigma", type=float, nargs="+", default=[1.0, 1.5])
    ap.add_argument("--also", type=Path, nargs="*", default=[])
    args = ap.parse_args()
    now = (ruler_scan._MAX_CANDIDATES, ruler_scan._MAX_KEPT)
    lm2 = sorted((SHARED / "leafmachine2_demo").glob("*.jpg"))
    print(f"| sheets | read, caps {OLD} | s a sheet | read, caps {now} | s a sheet |")
    print("|---|---|---|---|---|")
    for sigma in [0.0, *args.sigma]:
        counts, times = {OLD: 0, now: 0}, {OLD: 0.0, now: 0.0}
        for path in lm2:
            grey = to_grey(soft(path, sigma))
            for caps in (OLD, now):
                fit, seconds = read(grey, caps)
                ok = fit is not None and fit[1] >= MIN_CONFIDENCE and abs(fit[0] / 4.538 - 1) < 0.01
                counts[caps] += ok
                times[caps] += seconds
        n = len(lm2)
        print(f"| LeafMachine2, blur {sigma:g} px | {counts[OLD]} of {n} | {times[OLD] / n:.3f} "
              f"| {counts[now]} of {n} | {times[now] / n:.3f} |")  # fmt: skip
    for folder in args.also:
        files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".jpg", ".png"))
        changed, accepted, times = [], {OLD: 0, now: 0}, {OLD: 0.0, now: 0.0}
        for path in files:
            grey = to_grey(np.asarray(Image.open(path).convert("RGB")))
            fits = {}
            for caps in (OLD, now):
                fits[caps], seconds = read(grey, caps)
                accepted[caps] += fits[caps] is not None and fits[caps][1] >= MIN_CONFIDENCE
                times[caps] += seconds
            if fits[OLD] != fits[now]:
                changed.append(f"{path.name}: {fits[OLD]} -> {fits[now]}")
        n = max(len(files), 1)
        print(f"| {folder} ({len(files)}) | {accepted[OLD]} accepted | {times[OLD] / n:.3f} "
              f"| {accepted[now]} accepted, {len(changed)} fits changed "
              f"| {times[now] / n:.3f} |")  # fmt: skip
        for line in changed:
            print(f"\n- {line}")


if __name__ == "__main__":
    main()
