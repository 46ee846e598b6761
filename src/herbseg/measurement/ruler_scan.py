"""The first step of ruler detection: where on a (reduced) sheet is something periodic?

Short windows of thin bands (rows, and columns of the transposed image, each also at +-5 degrees
of shear) whose intensity profile has a sharp spectral peak become :class:`Candidate` rulers,
grown along the band while the same frequency holds. The scan is cheap and permissive: it runs on
a reduced image and leaves the verdict to :mod:`herbseg.measurement.ruler`, which measures each
candidate at full resolution.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy import fft as sfft
from scipy import ndimage, signal

SCAN_WINDOW = 512  # profile window (px) of the spectral scan
_SCAN_STEP = 128  # window step along a band
_BAND_HEIGHT = 4  # rows averaged into one band profile
_BAND_STEP = 2  # band step across the image
_MIN_PERIODS_PER_WINDOW = 6  # fewer ticks than this in a window give no sharp spectral peak
_SCAN_MIN_SCORE = 40.0  # spectral peak / median power; pure noise reaches ~10
_SCAN_MIN_AMPLITUDE = 0.012  # tick contrast (0..1 grey) below JPEG block artefacts is ignored
_PEAK_OVER_SIDE = 10.0  # spectral peak over the power 3 bins beside it
# Candidates per orientation and shear, and kept over all of them for measuring at full
# resolution. Blur takes a ruler's mm ticks down faster than the leaf edges and label text around
# them (whose spectra lose their high-frequency noise, so their peakiness grows while the ruler's
# shrinks): with 12 and 12, the 12 LeafMachine2 sheets (4.5 px/mm) blurred by a Gaussian of 1 px
# and saved as JPEG lost their ruler from the list on all 12; with 36 and 72, 11 are read, for
# 0.01-0.05 s more a sheet, and no other sheet's scale changes (BENCHMARKS.md, "Rulers on soft
# scans").
_MAX_CANDIDATES = 36
_MAX_KEPT = 72
_SHEARS_DEG = (0.0, 5.0, -5.0)  # scan tilts; bands tolerate about +-2.5 degrees each


@dataclass(frozen=True)
class Candidate:
    """A ruler hypothesis from the scan, in the (reduced, oriented) scan image's coordinates."""

    transposed: bool
    score: float
    freq: float  # ticks per pixel
    x0: float  # along-ruler extent
    x1: float
    slope: float  # centre line y = intercept + slope * x
    intercept: float
    half_height: float  # tick-zone half thickness around the centre line


def _take(arr: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """``arr[..., idx]`` per window, with ``idx`` clipped to the last axis."""
    idx = np.clip(idx, 0, arr.shape[-1] - 1)
    return np.take_along_axis(arr, idx[..., None], axis=-1)[..., 0]


def _sub_bin(power: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Parabolic interpolation of the log power around bin ``j``: a sub-bin peak offset."""
    ll, lc, lr = (np.log(_take(power, j + d) + 1e-20) for d in (-1, 0, 1))
    denom = ll - 2 * lc + lr
    safe = np.where(np.abs(denom) > 1e-12, denom, -1.0)
    return np.clip(np.where(np.abs(denom) > 1e-12, 0.5 * (ll - lr) / safe, 0.0), -0.5, 0.5)


def _scan_window_features(
    bands: np.ndarray, period_range: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per band and window: spectral peak frequency, peakiness and tick amplitude.

    Peakiness (peak power over median power) is scale-free, so faint and strong rulers compete
    on regularity, while the amplitude floor keeps JPEG block artefacts (period 8) out.
    """
    n_len = min(SCAN_WINDOW, bands.shape[1])
    windows = sliding_window_view(bands, n_len, axis=1)[:, ::_SCAN_STEP]
    shape = windows.shape[:2]
    freqs = sfft.rfftfreq(n_len)
    lo = int(np.searchsorted(freqs, 1.0 / period_range[1]))
    hi = min(int(np.searchsorted(freqs, 1.0 / period_range[0], side="right")), freqs.size - 1)
    if hi - lo < 8:
        return np.zeros(shape), np.zeros(shape), np.zeros(shape)
    taper = signal.windows.hann(n_len).astype(np.float32)
    # no mean removal: the Hann taper confines the DC term to bins far below ``lo``
    power = np.abs(sfft.rfft(windows * taper, axis=2)[..., lo : hi + 1]) ** 2
    j = np.argmax(power, axis=2)
    peak = _take(power, j)
    freq = (lo + j + _sub_bin(power, j)) / n_len
    amplitude = 2 * np.sqrt(peak) / taper.sum()
    # A tick comb gives a narrow peak (the Hann main lobe is +-2 bins); the 1/f^2 spectrum of
    # leaf edges and shadows is high at low frequencies but not peaked, and the edge bins of the
    # searched range are where that slope, not a period, wins the argmax.
    last = power.shape[2] - 1
    side = np.maximum(_take(power, j - 3), _take(power, j + 3))
    keep = (peak >= _PEAK_OVER_SIDE * side) & (j >= 3) & (j <= last - 3)
    keep &= amplitude >= _SCAN_MIN_AMPLITUDE / 2
    score = np.zeros(shape)
    # the median is the costly part; only windows that can become candidates need it
    score[keep] = peak[keep] / (np.median(power[keep], axis=1) + 1e-20)
    return freq, score, amplitude


def _bands(smooth: np.ndarray, tan: float) -> np.ndarray:
    """Band profiles along lines of slope ``tan`` from a row-smoothed image.

    Band ``i`` is the mean of ``_BAND_HEIGHT`` rows centred near row ``i * _BAND_STEP``; with a
    slope, each column reads its rows ``round(x * tan)`` further down (a shear), which costs one
    gather instead of resampling the image.
    """
    rows = np.arange(_BAND_HEIGHT // 2, smooth.shape[0], _BAND_STEP)
    if tan == 0:
        return smooth[rows]
    shift = np.round(np.arange(smooth.shape[1]) * tan).astype(int)
    idx = np.clip(rows[:, None] + shift[None, :], 0, smooth.shape[0] - 1)
    return smooth[idx, np.arange(smooth.shape[1])[None, :]]


def _related(freq: np.ndarray, f0: float) -> np.ndarray:
    """Frequencies within 1.5 % of ``f0`` or of its 2nd/3rd harmonic or sub-harmonic.

    Along one ruler the strongest spectral line of a window may switch between the tick
    frequency and its harmonics (thin ticks), so growth must accept all of them.
    """
    ratios = np.array([1 / 3, 1 / 2, 1.0, 2.0, 3.0])
    target = f0 * ratios[:, None, None]
    return (np.abs(freq[None] - target) < 0.015 * target).any(axis=0)


def _grow_candidate(
    freq: np.ndarray,
    score: np.ndarray,
    start: tuple[int, int],
    n_len: int,
    transposed: bool,
) -> Candidate:
    """Follow a strong window along its band (allowing a tilt) and across the tick zone."""
    b0, w0 = start
    f0 = freq[b0, w0]
    ok = _related(freq, f0) & (score >= _SCAN_MIN_SCORE / 2)
    path = {w0: b0}
    for step in (-1, 1):
        b, w = b0, w0 + step
        while 0 <= w < freq.shape[1]:
            lo, hi = max(0, b - 3), min(freq.shape[0], b + 4)
            rows = np.flatnonzero(ok[lo:hi, w])
            if rows.size == 0:
                break
            b = lo + int(rows[np.argmax(score[lo:hi, w][rows])])
            path[w] = b
            w += step
    ws = np.array(sorted(path))
    xs = ws * _SCAN_STEP + n_len / 2
    ys = np.array([path[w] for w in ws]) * _BAND_STEP + _BAND_HEIGHT // 2 - 0.5
    slope, intercept = np.polyfit(xs, ys, 1) if ws.size >= 3 else (0.0, float(ys.mean()))
    # tick-zone thickness at the strongest window: neighbouring bands with the same period
    col = ok[:, w0] & (score[:, w0] >= 0.3 * score[b0, w0])
    lo = hi = b0
    while lo - 1 >= 0 and col[lo - 1]:
        lo -= 1
    while hi + 1 < col.size and col[hi + 1]:
        hi += 1
    half = ((hi - lo) * _BAND_STEP + _BAND_HEIGHT) / 2
    centre = ((lo + hi) / 2 * _BAND_STEP + _BAND_HEIGHT // 2 - 0.5) - (ys[ws == w0][0])
    return Candidate(
        transposed=transposed,
        score=float(score[b0, w0]),
        freq=float(f0),
        x0=float(ws[0] * _SCAN_STEP),
        x1=float(ws[-1] * _SCAN_STEP + n_len),
        slope=float(slope),
        intercept=float(intercept + centre),
        half_height=float(half),
    )


def _explained(cand: Candidate, freq: np.ndarray, n_len: int) -> np.ndarray:
    """Windows a candidate already stands for: its period, within 10 periods of its line.

    Windows of another period stay: the 5 mm ticks below a ruler's mm ticks (a period of 5 mm
    and its harmonics) must not hide the mm-tick windows beside them.
    """
    band_y = np.arange(freq.shape[0]) * _BAND_STEP
    win_x = np.arange(freq.shape[1]) * _SCAN_STEP + n_len / 2
    line_y = cand.intercept + cand.slope * win_x
    near = np.abs(band_y[:, None] - line_y[None, :]) <= cand.half_height + 10 / cand.freq
    inside = (win_x >= cand.x0) & (win_x <= cand.x1)
    same = np.abs(freq - cand.freq) < 0.015 * cand.freq
    return near & inside[None, :] & same


def _scan_candidates(
    smooth: np.ndarray, period_range: tuple[float, float], transposed: bool, tan: float
) -> list[Candidate]:
    """Candidates of one orientation and shear, strongest first, duplicates suppressed."""
    n_len = min(SCAN_WINDOW, smooth.shape[1])
    pr = (period_range[0], min(period_range[1], n_len / _MIN_PERIODS_PER_WINDOW))
    freq, score, amp = _scan_window_features(_bands(smooth, tan), pr)
    strong = (score >= _SCAN_MIN_SCORE) & (amp >= _SCAN_MIN_AMPLITUDE)
    taken = np.zeros_like(strong)
    found: list[Candidate] = []
    bands, wins = np.nonzero(strong)
    for i in np.argsort(score[bands, wins])[::-1]:
        b, w = bands[i], wins[i]
        if taken[b, w]:
            continue
        cand = _grow_candidate(freq, score, (int(b), int(w)), n_len, transposed)
        taken |= _explained(cand, freq, n_len)
        found.append(replace(cand, slope=cand.slope + tan))
        if len(found) >= _MAX_CANDIDATES:
            break
    return found


def find_candidates(grey: np.ndarray, period_range: tuple[float, float]) -> list[Candidate]:
    """Strongest distinct periodic regions of both orientations and all shears, best first.

    Horizontal bands only follow a ruler tilted by a few degrees when its tick zone is many
    pixels high; scanning sheared copies as well keeps small, tilted rulers in reach.
    """
    found: list[Candidate] = []
    for transposed in (False, True):
        img = grey.T if transposed else grey
        if img.shape[1] < 64 or img.shape[0] < _BAND_HEIGHT:
            continue
        smooth = ndimage.uniform_filter1d(img, _BAND_HEIGHT, axis=0)
        for degrees in _SHEARS_DEG:
            tan = math.tan(math.radians(degrees))
            found += _scan_candidates(smooth, period_range, transposed, tan)
    found.sort(key=lambda c: c.score, reverse=True)
    return found[:_MAX_KEPT]
