"""Finding a metric tick ruler on a sheet and reading its pixels per millimetre.

Ruler detection works on periodicity rather than on object detection so that it needs no
trained model:

* scan: short windows of thin bands (rows, and columns of the transposed image, each also at
  +-5 degrees of shear) whose intensity profile has a sharp spectral peak are candidates;
* refine: along the candidate's (possibly tilted) centre line, a harmonic periodogram of the
  whole ruler length and then a line fit of tick index against tick position give the period
  to ~0.01-0.1 %; a grid that only finds every 2nd/3rd tick (a harmonic) is widened;
* verify: ticks must cover the fitted grid regularly, and every fifth tick must be longer than
  its neighbours (the 5/10 mm rhythm), which rejects barcodes, gratings, leaf veins and inch
  scales. A ruler with 0.5 mm ticks is recognised by its alternating mm/half-mm lengths.

Limits: metric rulers only; tilt up to ~7 degrees; the ruler needs >= 2 cm of visible ticks.
Which scale a sheet gets (table, ruler, dpi) is decided in :mod:`herbseg.measurement.scale`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import fft as sfft
from scipy import ndimage, optimize, signal
from skimage.color import rgb2gray
from skimage.measure import block_reduce
from skimage.util import img_as_float32

from herbseg.measurement.ruler_scan import SCAN_WINDOW, Candidate, find_candidates

# The scan needs ticks at least this many pixels apart after downscaling ...
_MIN_TICK_PX = 3.0
# ... and assumes an image spans at most this many mm along its long side (a herbarium sheet is
# ~430 mm), which bounds how far a large scan may be reduced before its ticks blur together.
_MAX_SHEET_MM = 1000.0
_MIN_TICKS = 20  # two centimetres of ticks are the least we call a ruler


@dataclass(frozen=True)
class _Fit:
    px_per_mm: float
    confidence: float
    # where the ticks were measured, in full-resolution (x, y): for the evidence crop
    start: tuple[float, float] = (0.0, 0.0)
    end: tuple[float, float] = (0.0, 0.0)
    vertical: bool = False


def to_grey(rgb: np.ndarray) -> np.ndarray:
    """Luminance in 0..1; ticks are dark on light in every colour of ruler we know."""
    arr = np.asarray(rgb)
    if arr.ndim == 3:
        return np.asarray(rgb2gray(arr[..., :3]), dtype=np.float32)
    return img_as_float32(arr)


# --------------------------------------------------------------------------------------------
# ruler detection: refinement at full resolution
# --------------------------------------------------------------------------------------------


def _strip(
    img: np.ndarray, origin: np.ndarray, u: np.ndarray, s: np.ndarray, t: np.ndarray
) -> np.ndarray:
    """Sample ``img`` on a grid along ``u`` (s) and across it (t); rows are t, columns s."""
    v = np.array([-u[1], u[0]])
    xs = origin[0] + s[None, :] * u[0] + t[:, None] * v[0]
    ys = origin[1] + s[None, :] * u[1] + t[:, None] * v[1]
    return ndimage.map_coordinates(img, [ys, xs], order=1, mode="nearest")


def _harmonic_power(x: np.ndarray, taper: np.ndarray, f: float, harmonics: int) -> float:
    """Exact (not binned) tapered DFT power at ``f`` and its harmonics, for the polish step."""
    n = np.arange(x.size)
    tx = taper * x
    return float(
        sum(abs(np.dot(tx, np.exp(-2j * np.pi * k * f * n))) ** 2 for k in range(1, harmonics + 1))
    )


def _refine_frequency(dark: np.ndarray, f0: float, rel_range: float) -> float:
    """Maximise the harmonic periodogram of the whole ruler profile near ``f0``.

    Using the full ruler length instead of one scan window narrows the spectral peak by the
    ratio of the lengths; harmonics sharpen it further because thin ticks are rich in them. A
    zero-padded FFT finds the peak on a fine grid, a bounded scalar search polishes it.
    """
    taper = signal.windows.hann(dark.size)
    harmonics = max(1, min(3, int(0.45 / f0)))
    n_fft = sfft.next_fast_len(8 * dark.size)
    spectrum = np.abs(sfft.rfft(taper * dark, n_fft)) ** 2
    freqs = sfft.rfftfreq(n_fft)
    grid = freqs[(freqs >= f0 * (1 - rel_range)) & (freqs <= f0 * (1 + rel_range))]
    if grid.size < 3:
        return f0
    summed = sum(np.interp(k * grid, freqs, spectrum) for k in range(1, harmonics + 1))
    best = grid[int(np.argmax(summed))]
    step = 1.0 / n_fft
    res = optimize.minimize_scalar(
        lambda f: -_harmonic_power(dark, taper, f, harmonics),
        bounds=(best - step, best + step),
        method="bounded",
        options={"xatol": step * 1e-3},
    )
    return float(res.x)


def _tick_positions(dark: np.ndarray, period: float) -> np.ndarray:
    """Sub-pixel positions of darkness maxima at least ~0.6 periods apart.

    Maxima weaker than a third of a typical tick are paper grain beyond the ruler's ends; left
    in, they fall on the grid by chance and stretch the ruler into the background.
    """
    peaks, _ = signal.find_peaks(dark, distance=max(1, int(0.6 * period)))
    peaks = peaks[(peaks > 0) & (peaks < dark.size - 1)]
    if peaks.size:
        peaks = peaks[dark[peaks] >= 0.3 * np.percentile(dark[peaks], 75)]
    left, mid, right = dark[peaks - 1], dark[peaks], dark[peaks + 1]
    denom = left - 2 * mid + right
    offset = np.where(denom < 0, 0.5 * (left - right) / np.where(denom == 0, -1, denom), 0.0)
    return peaks + np.clip(offset, -0.5, 0.5)


def _longest_run(indices: np.ndarray, max_gap: int = 3) -> np.ndarray:
    """Mask of the longest run of tick indices without a gap wider than ``max_gap``."""
    order = np.argsort(indices)
    sorted_idx = indices[order]
    breaks = np.flatnonzero(np.diff(sorted_idx) > max_gap) + 1
    segments = np.split(np.arange(sorted_idx.size), breaks)
    best = max(segments, key=len)
    mask = np.zeros(indices.size, dtype=bool)
    mask[order[best]] = True
    return mask


@dataclass(frozen=True)
class _Grid:
    origin: float  # position of tick index 0 along the strip
    period: float
    first: int
    last: int
    coverage: float  # fraction of grid positions with a tick found
    residual: float  # std of tick positions around the grid, in periods


def _on_grid(
    pos: np.ndarray, origin: float, period: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Tick index and residual of each position, and the mask of the longest inlier run."""
    idx = np.round((pos - origin) / period).astype(int)
    resid = pos - origin - idx * period
    inlier = np.abs(resid) < 0.2 * period
    run = np.zeros_like(inlier)
    if inlier.any():
        run[inlier] = _longest_run(idx[inlier])
    return idx, resid, run


def _harmonic_order(idx: np.ndarray) -> tuple[int, int]:
    """``(m, r)`` when all ticks sit on indices ``r mod m``: the scan locked onto a harmonic.

    Thin ticks put more power into the 2nd or 3rd harmonic than into the fundamental; the
    grid of the harmonic then finds ticks only at every m-th position.
    """
    for m in (2, 3):
        counts = np.bincount(idx % m, minlength=m)
        if counts.max() >= 0.9 * idx.size:
            return m, int(np.argmax(counts))
    return 1, 0


def _fit_grid(dark: np.ndarray, period: float) -> _Grid | None:
    """Line fit of tick index against position: the slope is the period over the whole ruler."""
    pos = _tick_positions(dark, period)
    if pos.size < _MIN_TICKS:
        return None
    phase = np.angle(np.mean(np.exp(2j * np.pi * pos / period)))
    origin = phase / (2 * np.pi) * period
    for _ in range(3):  # up to x2, x2 or x3, then the fit of the final grid
        idx, _, run = _on_grid(pos, origin, period)
        if run.sum() < _MIN_TICKS:
            return None
        m, r = _harmonic_order(idx[run])
        if m > 1:
            origin, period = origin + r * period, m * period
            continue
        period, origin = np.polyfit(idx[run], pos[run], 1)
    idx, resid, run = _on_grid(pos, origin, period)
    if run.sum() < _MIN_TICKS:
        return None
    first, last = int(idx[run].min()), int(idx[run].max())
    return _Grid(
        origin=float(origin),
        period=float(period),
        first=first,
        last=last,
        coverage=float(np.unique(idx[run]).size / (last - first + 1)),
        residual=float(np.std(resid[run]) / period),
    )


def _run_lengths(is_tick: np.ndarray, zone: slice) -> np.ndarray:
    """Per column, the length of the longest vertical run of tick pixels touching the zone.

    Counting only runs connected to the tick zone keeps cm numbers and nearby text, which are
    separated from the ticks by a gap, from lengthening a tick.
    """
    labels, n_runs = ndimage.label(is_tick, structure=[[0, 1, 0], [0, 1, 0], [0, 1, 0]])
    sizes = np.bincount(labels.ravel(), minlength=n_runs + 1).astype(float)
    sizes[0] = 0.0
    return sizes[labels[zone]].max(axis=0)


def _tick_lengths(wide: np.ndarray, grid: _Grid, zone: slice) -> np.ndarray | None:
    """Length (rows) of each tick of the grid, measured across the ruler.

    A tick pixel is darker than the paper half a period to either side by at least half the
    typical tick contrast in the tick zone; only runs connected to the zone count.
    """
    n = np.arange(grid.first, grid.last + 1)
    s_tick = grid.origin + n * grid.period
    cols = np.arange(wide.shape[1])

    def sample(pos: np.ndarray) -> np.ndarray:
        return np.stack([np.interp(pos, cols, row) for row in wide])

    tick = sample(s_tick)
    paper = 0.5 * (sample(s_tick - grid.period / 2) + sample(s_tick + grid.period / 2))
    contrast = paper - tick
    ref = np.median(contrast[zone].mean(axis=0))
    if not ref > 0:
        return None
    return _run_lengths(contrast > 0.5 * ref, zone)


def _half_mm_parity(length: np.ndarray) -> int | None:
    """The parity of the mm ticks when the grid found is a 0.5 mm one, else ``None``.

    On a ruler with half-mm ticks every other tick (the mm tick) is longer than both its
    neighbours; on a mm ruler only every fifth tick is.
    """
    for parity in (0, 1):
        idx = np.arange(max(parity, 2 - parity), length.size - 1, 2)
        if idx.size < _MIN_TICKS // 2:
            return None
        longer = length[idx] > np.maximum(length[idx - 1], length[idx + 1])
        if longer.mean() >= 0.8:
            return parity
    return None


def _five_tick_rhythm(length: np.ndarray) -> float:
    """How consistently every fifth tick is longer than the four ticks around it (0..1).

    A metric ruler marks every 5 mm (and 10 mm) with a longer tick; a barcode, a fabric texture
    or a 1/16-inch scale (period 16 ticks) has no 5-tick rhythm. Checking 5 rather than 10
    keeps rulers whose cm and half-cm ticks differ little (the LeafMachine2 ruler).
    """
    if length.size < _MIN_TICKS:
        return 0.0
    pos = np.arange(length.size)
    folded = np.array([length[pos % 5 == j].mean() for j in range(5)])
    long_phase = int(np.argmax(folded))
    if folded[long_phase] < 1.3 * np.median(folded):
        return 0.0
    hits = []
    for i in pos[(pos % 5 == long_phase) & (pos >= 2) & (pos < length.size - 2)]:
        others = max(length[i - 2 : i].max(), length[i + 1 : i + 3].max())
        hits.append(length[i] >= max(1.15 * others, others + 1))
    return float(np.mean(hits)) if hits else 0.0


def _confidence(grid: _Grid, n_ticks: int, rhythm: float, agreement: bool) -> float:
    """Soft product of what makes a ruler believable; each factor is ~1 on a good ruler.

    Coverage: ticks found on the fitted grid. Regularity: their scatter around it (JPEG rulers
    at ~4.5 px/mm scatter ~0.07 periods). Length: 4 cm of ticks or more. Rhythm: the 5 mm
    structure. Agreement: the line fit and the periodogram give the same period.
    """
    # rounding tick positions to whole pixels (a ruler drawn without anti-aliasing) scatters
    # them by 1/sqrt(12) px; that is not irregularity
    scatter_px = math.sqrt(max(0.0, (grid.residual * grid.period) ** 2 - 1 / 12))
    factors = (
        min(1.0, grid.coverage / 0.9),
        math.exp(-((scatter_px / grid.period / 0.15) ** 2)),
        min(1.0, n_ticks / 40),
        float(np.clip((rhythm - 0.5) / 0.4, 0.0, 1.0)),
        1.0 if agreement else 0.5,
    )
    return float(np.prod(factors))


def _refine(grey: np.ndarray, cand: Candidate, scale: int) -> _Fit | None:
    """Measure a candidate at full resolution: precise period, tick regularity, cm structure."""
    img = grey.T if cand.transposed else grey
    k = float(scale)
    u = np.array([1.0, cand.slope]) / math.hypot(1.0, cand.slope)
    # centre of reduced pixel p in full-resolution pixels
    x_start = k * cand.x0 + (k - 1) / 2
    origin = np.array([x_start, k * (cand.intercept + cand.slope * cand.x0) + (k - 1) / 2])
    s = np.arange(0, max(k * (cand.x1 - cand.x0) * math.hypot(1.0, cand.slope), 2.0))
    period0 = k / cand.freq
    half = max(1.0, k * cand.half_height)
    profile = _strip(img, origin, u, s, np.arange(-half, half + 1)).mean(axis=0)
    dark = ndimage.gaussian_filter1d(profile, period0) - profile
    rel = max(0.03, 1.5 * period0 / (k * SCAN_WINDOW))
    period = 1.0 / _refine_frequency(dark, 1.0 / period0, rel)
    grid = _fit_grid(dark, period)
    if grid is None:
        return None
    reach = int(round(12 * grid.period))
    wide = _strip(img, origin, u, s, np.arange(-reach, reach + 1))
    length = _tick_lengths(wide, grid, slice(reach - int(half), reach + int(half) + 1))
    if length is None:
        return None
    mm_period = grid.period
    parity = _half_mm_parity(length)
    if parity is not None:  # a 0.5 mm ruler: keep the mm ticks
        length, mm_period = length[parity::2], 2 * grid.period
    order = max(1, round(grid.period / period))  # the periodogram may have run on a harmonic
    agreement = abs(grid.period / (order * period) - 1) < 0.005
    confidence = _confidence(grid, length.size, _five_tick_rhythm(length), agreement)
    ends = [origin + (grid.origin + i * grid.period) * u for i in (grid.first, grid.last)]
    if cand.transposed:  # the strip was sampled on the transposed image: swap back to (x, y)
        ends = [e[::-1] for e in ends]
    return _Fit(
        px_per_mm=mm_period,
        confidence=confidence,
        start=(float(ends[0][0]), float(ends[0][1])),
        end=(float(ends[1][0]), float(ends[1][1])),
        vertical=cand.transposed,
    )


def _reduction(shape: tuple[int, ...]) -> int:
    """Integer downscale that keeps ticks >= 3 px apart on any image spanning <= 1 m."""
    return max(1, int(max(shape[:2]) // (_MIN_TICK_PX * _MAX_SHEET_MM)))


def detect_ruler(
    rgb: np.ndarray, approx_px_per_mm: tuple[float, float] = (2.0, 60.0)
) -> tuple[float | None, float]:
    """Find a metric ruler anywhere on a sheet and return ``(px_per_mm, confidence)``.

    ``approx_px_per_mm`` bounds the tick spacing searched for. Without a metric ruler the answer
    is ``(None, 0.0)`` or a low confidence; callers decide with a threshold (see
    :func:`resolve_scale`).
    """
    fit = detect_ruler_fit(to_grey(rgb), approx_px_per_mm)
    return (None, 0.0) if fit is None else (fit.px_per_mm, fit.confidence)


def detect_ruler_fit(grey: np.ndarray, approx_px_per_mm: tuple[float, float]) -> _Fit | None:
    """:func:`detect_ruler` on a grey image, with where the ticks were measured."""
    if grey.ndim != 2 or min(grey.shape) < 16:
        return None
    k = _reduction(grey.shape)
    small = block_reduce(grey, (k, k), np.mean) if k > 1 else grey
    lo, hi = approx_px_per_mm
    period_range = (max(2.2, lo / k), max(2.5, hi / k))
    best: _Fit | None = None
    for cand in find_candidates(small, period_range):
        fit = _refine(grey, cand, k)
        if fit is None or not (lo <= fit.px_per_mm <= hi):
            continue
        if best is None or fit.confidence > best.confidence:
            best = fit
        if best.confidence >= 0.95:
            break
    if best is None or best.confidence <= 0.0:
        return None
    return best
