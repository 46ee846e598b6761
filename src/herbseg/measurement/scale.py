"""Where a sheet's pixels-per-millimetre comes from.

Leaf measurements in mm are only as good as the scale, so every sheet records where its scale
came from (``Scale.source``) and how sure we are. The priority is fixed:

1. ``table``: a curator-supplied value per sheet or per collection (``load_scale_table``); a
   person measured it, so it beats anything inferred.
2. ``ruler``: a metric ruler found on the sheet (``detect_ruler``), used only when its confidence
   reaches a threshold, because a wrong scale is worse than no scale.
3. ``dpi``: the file's resolution tag, but only a plausible one. 72 and 96 dpi are software
   defaults written by editors and cameras, not measurements, and are ignored.
4. ``none``: mm traits stay empty.

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
"""

from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy import fft as sfft
from scipy import ndimage, optimize, signal
from skimage.color import rgb2gray
from skimage.measure import block_reduce
from skimage.util import img_as_float32

if TYPE_CHECKING:
    from herbseg.measurement.scale_detect import Detection

MM_PER_INCH = 25.4

# The scan needs ticks at least this many pixels apart after downscaling ...
_MIN_TICK_PX = 3.0
# ... and assumes an image spans at most this many mm along its long side (a herbarium sheet is
# ~430 mm), which bounds how far a large scan may be reduced before its ticks blur together.
_MAX_SHEET_MM = 1000.0
_SCAN_WINDOW = 512  # profile window (px) of the spectral scan
_SCAN_STEP = 128  # window step along a band
_BAND_HEIGHT = 4  # rows averaged into one band profile
_BAND_STEP = 2  # band step across the image
_MIN_PERIODS_PER_WINDOW = 6  # fewer ticks than this in a window give no sharp spectral peak
_SCAN_MIN_SCORE = 40.0  # spectral peak / median power; pure noise reaches ~10
_SCAN_MIN_AMPLITUDE = 0.012  # tick contrast (0..1 grey) below JPEG block artefacts is ignored
_PEAK_OVER_SIDE = 10.0  # spectral peak over the power 3 bins beside it
_MAX_CANDIDATES = 12
_SHEARS_DEG = (0.0, 5.0, -5.0)  # scan tilts; bands tolerate about +-2.5 degrees each
_MIN_TICKS = 20  # two centimetres of ticks are the least we call a ruler


@dataclass(frozen=True)
class Scale:
    """A sheet's scale and its provenance.

    ``confidence`` is 0..1 for a detected ruler, 1.0 for the table and dpi (they are either right
    or wrong, not uncertain) and ``None`` when there is no scale.
    """

    px_per_mm: float | None
    source: str  # "table" | "ruler" | "dpi" | "none"
    confidence: float | None
    # the detected scale (kind, orientation, span), for the evidence crop: the one used when
    # source is "ruler", else one found but refused (see ``note``)
    detection: Detection | None = None
    # why a scale found on the sheet was not used (confidence below the threshold), else ""
    note: str = ""


# --------------------------------------------------------------------------------------------
# table and dpi
# --------------------------------------------------------------------------------------------


def _positive_finite(value: float) -> bool:
    return math.isfinite(value) and value > 0


def load_scale_table(path: str | os.PathLike) -> dict[str, float]:
    """Read a ``key,px_per_mm`` CSV into a lookup.

    A key is a sheet id or a value of a manifest column (e.g. an institution), so one row can set
    the scale of a whole collection scanned on one device. Bad rows raise instead of being
    skipped: a silently dropped row would silently fall back to a worse scale source.
    """
    path = Path(path)
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        fields = [f.strip() for f in (reader.fieldnames or [])]
        missing = {"key", "px_per_mm"} - set(fields)
        if missing:
            raise ValueError(
                f"{path}: scale table needs columns key, px_per_mm; missing {sorted(missing)}"
            )
        table: dict[str, float] = {}
        for lineno, row in enumerate(reader, start=2):
            row = {(k or "").strip(): (v or "").strip() for k, v in row.items() if k is not None}
            key, raw = row.get("key", ""), row.get("px_per_mm", "")
            if not key and not raw:
                continue  # blank line
            if not key:
                raise ValueError(f"{path}:{lineno}: empty key")
            try:
                value = float(raw)
            except ValueError:
                raise ValueError(f"{path}:{lineno}: px_per_mm {raw!r} is not a number") from None
            if not _positive_finite(value):
                raise ValueError(f"{path}:{lineno}: px_per_mm must be > 0, got {raw!r}")
            if key in table and table[key] != value:
                raise ValueError(
                    f"{path}:{lineno}: key {key!r} listed twice with different px_per_mm "
                    f"({table[key]:g} and {value:g})"
                )
            table[key] = value
    return table


def dpi_px_per_mm(
    dpi_x: float | None,
    dpi_y: float | None,
    min_dpi: float = 100,
    max_dpi: float = 4800,
    ignore: tuple[float, ...] = (72.0, 96.0),
) -> float | None:
    """Turn a resolution tag into px/mm, or ``None`` when the tag is not a measurement.

    Editors and cameras write 72 or 96 dpi regardless of the real resolution, values outside
    ``[min_dpi, max_dpi]`` are not flatbed or copy-stand scans, and unequal x/y resolution means a
    resampled or anamorphic image whose single px/mm would be wrong in one direction.
    """
    if dpi_x is None or dpi_y is None:
        return None
    try:
        x, y = float(dpi_x), float(dpi_y)
    except (TypeError, ValueError):
        return None
    if not (_positive_finite(x) and _positive_finite(y)):
        return None
    if abs(x - y) > 0.01 * max(x, y):
        return None
    dpi = (x + y) / 2
    if any(abs(dpi - v) < 0.5 for v in ignore):
        return None
    if not (min_dpi <= dpi <= max_dpi):
        return None
    return dpi / MM_PER_INCH


# --------------------------------------------------------------------------------------------
# ruler detection: spectral scan
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Candidate:
    """A ruler hypothesis from the scan, in the (reduced, oriented) scan image's coordinates."""

    transposed: bool
    score: float
    freq: float  # ticks per pixel
    x0: float  # along-ruler extent
    x1: float
    slope: float  # centre line y = intercept + slope * x
    intercept: float
    half_height: float  # tick-zone half thickness around the centre line


@dataclass(frozen=True)
class _Fit:
    px_per_mm: float
    confidence: float
    # where the ticks were measured, in full-resolution (x, y): for the evidence crop
    start: tuple[float, float] = (0.0, 0.0)
    end: tuple[float, float] = (0.0, 0.0)
    vertical: bool = False


def _grey(rgb: np.ndarray) -> np.ndarray:
    """Luminance in 0..1; ticks are dark on light in every colour of ruler we know."""
    arr = np.asarray(rgb)
    if arr.ndim == 3:
        return np.asarray(rgb2gray(arr[..., :3]), dtype=np.float32)
    return img_as_float32(arr)


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
    n_len = min(_SCAN_WINDOW, bands.shape[1])
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
) -> _Candidate:
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
    return _Candidate(
        transposed=transposed,
        score=float(score[b0, w0]),
        freq=float(f0),
        x0=float(ws[0] * _SCAN_STEP),
        x1=float(ws[-1] * _SCAN_STEP + n_len),
        slope=float(slope),
        intercept=float(intercept + centre),
        half_height=float(half),
    )


def _explained(cand: _Candidate, freq: np.ndarray, n_len: int) -> np.ndarray:
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
) -> list[_Candidate]:
    """Candidates of one orientation and shear, strongest first, duplicates suppressed."""
    n_len = min(_SCAN_WINDOW, smooth.shape[1])
    pr = (period_range[0], min(period_range[1], n_len / _MIN_PERIODS_PER_WINDOW))
    freq, score, amp = _scan_window_features(_bands(smooth, tan), pr)
    strong = (score >= _SCAN_MIN_SCORE) & (amp >= _SCAN_MIN_AMPLITUDE)
    taken = np.zeros_like(strong)
    found: list[_Candidate] = []
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


def _candidates(grey: np.ndarray, period_range: tuple[float, float]) -> list[_Candidate]:
    """Strongest distinct periodic regions of both orientations and all shears, best first.

    Horizontal bands only follow a ruler tilted by a few degrees when its tick zone is many
    pixels high; scanning sheared copies as well keeps small, tilted rulers in reach.
    """
    found: list[_Candidate] = []
    for transposed in (False, True):
        img = grey.T if transposed else grey
        if img.shape[1] < 64 or img.shape[0] < _BAND_HEIGHT:
            continue
        smooth = ndimage.uniform_filter1d(img, _BAND_HEIGHT, axis=0)
        for degrees in _SHEARS_DEG:
            tan = math.tan(math.radians(degrees))
            found += _scan_candidates(smooth, period_range, transposed, tan)
    found.sort(key=lambda c: c.score, reverse=True)
    return found[:_MAX_CANDIDATES]


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


def _refine(grey: np.ndarray, cand: _Candidate, scale: int) -> _Fit | None:
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
    rel = max(0.03, 1.5 * period0 / (k * _SCAN_WINDOW))
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
    fit = detect_ruler_fit(_grey(rgb), approx_px_per_mm)
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
    for cand in _candidates(small, period_range):
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


# --------------------------------------------------------------------------------------------
# resolution
# --------------------------------------------------------------------------------------------


def resolve_scale(
    *,
    table_value: float | None,
    rgb: np.ndarray | None,
    dpi_x: float | None,
    dpi_y: float | None,
    ruler_enabled: bool = True,
    min_ruler_confidence: float = 0.6,
    min_dpi: float = 100,
    max_dpi: float = 4800,
    ignore_dpi: tuple[float, ...] = (72.0, 96.0),
    approx_px_per_mm: tuple[float, float] = (1.2, 60.0),
) -> Scale:
    """Pick a sheet's scale by the fixed priority table > ruler > dpi > none.

    The ruler is only searched when no table value exists, because detection costs ~0.5 s of
    CPU per 6 MP sheet and a curated value wins anyway. "ruler" is any kind of scale drawn on
    the sheet (:func:`herbseg.measurement.scale_detect.detect_scale`: tick rulers, checker strips).
    One
    below ``min_ruler_confidence`` is dropped, not used, since a wrong scale is worse than the
    dpi tag or no scale; ``Scale.note`` then says what was found and why it was refused.
    """
    if table_value is not None:
        value = float(table_value)
        if not _positive_finite(value):
            raise ValueError(f"table px_per_mm must be > 0, got {table_value!r}")
        return Scale(value, "table", 1.0)
    note, found = "", None
    if ruler_enabled and rgb is not None:
        from herbseg.measurement.scale_detect import (
            detect_scale,  # it builds on this module's ruler
        )

        found = detect_scale(rgb, approx_px_per_mm)
        if found is not None and found.confidence >= min_ruler_confidence:
            return Scale(float(found.px_per_mm), "ruler", float(found.confidence), found)
        if found is not None:
            note = (
                f"{found.kind} scale ({found.orientation}, {found.px_per_mm:.3f} px/mm) found "
                f"with confidence {found.confidence:.2f} < measure.min_ruler_confidence "
                f"{min_ruler_confidence:g}: not used"
            )
    # a refused detection is kept (with its note) so the report can show what was refused
    dpi = dpi_px_per_mm(dpi_x, dpi_y, min_dpi=min_dpi, max_dpi=max_dpi, ignore=ignore_dpi)
    if dpi is not None:
        return Scale(dpi, "dpi", 1.0, found, note)
    return Scale(None, "none", None, found, note)
