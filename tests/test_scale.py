"""Tests of herbseg.measurement.scale: scale table, dpi plausibility, ruler detection and the
priority order.

The synthetic sheets are drawn here (not by the workflow's own synthetic-data module) so that
the detector is checked against a ruler drawn independently of the code under test.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from herbseg.measurement.ruler import detect_ruler
from herbseg.measurement.scale import (
    Scale,
    dpi_px_per_mm,
    load_scale_table,
    resolve_scale,
)

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared"
LM2 = SHARED / "data" / "leafmachine2_demo"
SUPERSAMPLE = 4  # rulers are drawn 4x larger and box-reduced, so thin ticks are anti-aliased

# --------------------------------------------------------------------------------------------
# drawing helpers
# --------------------------------------------------------------------------------------------


def _font(size_px: float) -> ImageFont.ImageFont:
    return ImageFont.load_default(size=max(6, int(size_px)))


def draw_ruler(
    px_per_mm: float,
    length_mm: float = 130.0,
    width_mm: float = 12.0,
    colour: tuple[int, int, int] = (250, 250, 242),
    tick_mm: float = 0.2,
) -> Image.Image:
    """A horizontal metric ruler: 1 mm short, 5 mm medium, 10 mm long ticks with cm numbers."""
    s = px_per_mm * SUPERSAMPLE
    margin = 3.0  # mm of band before the 0 tick and after the last one
    w = int(round((length_mm + 2 * margin) * s))
    h = int(round(width_mm * s))
    im = Image.new("RGB", (w, h), colour)
    d = ImageDraw.Draw(im)
    half = max(tick_mm * s / 2, SUPERSAMPLE * 0.35)  # at least ~0.7 px wide after reduction
    for i in range(int(length_mm) + 1):
        x = (margin + i) * s
        tick = 5.0 if i % 10 == 0 else 3.5 if i % 5 == 0 else 2.0
        d.rectangle([x - half, 0, x + half, tick * s], fill=(20, 20, 20))
        if i % 10 == 0 and i:
            d.text((x + 0.6 * s, 5.2 * s), str(i // 10), fill=(20, 20, 20), font=_font(3 * s))
    d.rectangle([0, 0, w - 1, h - 1], outline=(120, 120, 110), width=max(1, int(0.3 * s)))
    return im.reduce(SUPERSAMPLE)


def paper(shape: tuple[int, int], seed: int = 0) -> Image.Image:
    """Cream paper with grain and blotches, the background a scan of a mount sheet has."""
    rng = np.random.default_rng(seed)
    h, w = shape
    base = np.array([232, 226, 208], dtype=np.float32)
    blotch = np.asarray(
        Image.fromarray(rng.normal(0, 1, (h // 64 + 1, w // 64 + 1)).astype(np.float32)).resize(
            (w, h), Image.BICUBIC
        )
    )
    grain = rng.normal(0, 4, (h, w)).astype(np.float32)
    arr = base[None, None, :] + (6 * blotch + grain)[..., None]
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def clutter(im: Image.Image, seed: int = 0, barcode: bool = True) -> None:
    """Leaves with veins, a typed label and a barcode: the periodic-looking things on a sheet."""
    rng = np.random.default_rng(seed)
    d = ImageDraw.Draw(im)
    w, h = im.size
    for _ in range(7):
        cx, cy = rng.uniform(0.1, 0.9) * w, rng.uniform(0.25, 0.75) * h
        a, b = rng.uniform(80, 300), rng.uniform(30, 110)
        d.ellipse([cx - a, cy - b, cx + a, cy + b], fill=(70, 110, 50))
        d.line([cx - a, cy, cx + a, cy], fill=(150, 170, 110), width=3)
        for k in range(-4, 5):
            x = cx + k * a / 5
            d.line([x, cy, x + a / 6, cy - b * 0.8], fill=(140, 160, 100), width=2)
    x0, y0 = int(0.55 * w), int(0.82 * h)
    d.rectangle([x0, y0, x0 + int(0.4 * w), y0 + int(0.15 * h)], fill=(245, 243, 235))
    font = _font(h / 110)
    for line in range(6):
        d.text(
            (x0 + 20, y0 + 15 + line * h / 80),
            "Castanea dentata (Marsh.) Borkh. 1803",
            fill=(30, 30, 30),
            font=font,
        )
    if barcode:
        x = 0.06 * w
        for _ in range(90):
            bar = rng.integers(1, 5)
            d.rectangle([x, 0.88 * h, x + bar - 1, 0.95 * h], fill=(10, 10, 10))
            x += bar + rng.integers(1, 5)


def sheet_with_ruler(
    px_per_mm: float,
    *,
    vertical: bool = False,
    where: tuple[float, float] = (0.1, 0.05),
    shape: tuple[int, int] = (2100, 1400),
    tilt_deg: float = 0.0,
    colour: tuple[int, int, int] = (250, 250, 242),
    seed: int = 0,
) -> np.ndarray:
    """A cluttered sheet (rows, cols) with a ruler whose top-left corner is at ``where``."""
    im = paper(shape, seed)
    clutter(im, seed)
    ruler = draw_ruler(px_per_mm, colour=colour)
    if vertical:
        ruler = ruler.transpose(Image.Transpose.ROTATE_90)
    if tilt_deg:
        ruler = ruler.convert("RGBA").rotate(tilt_deg, resample=Image.BICUBIC, expand=True)
    x, y = int(where[0] * shape[1]), int(where[1] * shape[0])
    im.paste(ruler, (x, y), ruler if ruler.mode == "RGBA" else None)
    return np.asarray(im.convert("RGB"))


# --------------------------------------------------------------------------------------------
# ruler detection
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("px_per_mm", "vertical", "where"),
    [
        (3.78, False, (0.1, 0.05)),  # 96 dpi
        (5.9, True, (0.85, 0.3)),  # 150 dpi, vertical at the right edge
        (11.811, False, (0.02, 0.6)),  # 300 dpi, across the middle of the sheet
        (2.4, True, (0.02, 0.1)),  # 61 dpi, the coarsest we promise
        (7.3, False, (0.2, 0.45)),
    ],
)
def test_detect_ruler_within_one_percent(px_per_mm, vertical, where):
    rgb = sheet_with_ruler(px_per_mm, vertical=vertical, where=where, seed=int(px_per_mm * 10))
    got, confidence = detect_ruler(rgb)
    assert got is not None
    assert abs(got / px_per_mm - 1) < 0.01
    assert confidence >= 0.6


@pytest.mark.parametrize(("px_per_mm", "tilt"), [(6.5, 1.5), (3.0, -6.0)])
def test_detect_tilted_yellow_ruler(px_per_mm, tilt):
    rgb = sheet_with_ruler(px_per_mm, tilt_deg=tilt, colour=(238, 214, 110), where=(0.15, 0.1))
    got, confidence = detect_ruler(rgb)
    assert got is not None and abs(got / px_per_mm - 1) < 0.01
    assert confidence >= 0.6


def _on_sheet(ruler: Image.Image, seed: int = 4) -> np.ndarray:
    im = paper((2400, 1800), seed)
    clutter(im, seed)
    im.paste(ruler, (100, 1700))
    return np.asarray(im)


def crude_ruler(px_per_mm: float) -> Image.Image:
    """Drawn without anti-aliasing: 1 px ticks at whole-pixel positions, as a quick script does."""
    im = Image.new("RGB", (int(136 * px_per_mm), int(12 * px_per_mm)), (245, 235, 170))
    d = ImageDraw.Draw(im)
    for i in range(131):
        x = round((3 + i) * px_per_mm)
        tick = 5.0 if i % 10 == 0 else 3.5 if i % 5 == 0 else 2.0
        d.line([x, 0, x, round(tick * px_per_mm)], fill=(0, 0, 0), width=1)
    return im


def fine_ruler(px_per_mm: float, unit_mm: float, pattern: tuple[int, ...]) -> Image.Image:
    """Ticks every ``unit_mm``; ``pattern`` gives tick lengths (in ticks' index order) in mm."""
    s = px_per_mm * SUPERSAMPLE
    n = int(130 / unit_mm)
    im = Image.new("RGB", (int((n * unit_mm + 6) * s), int(12 * s)), (250, 250, 242))
    d = ImageDraw.Draw(im)
    for i in range(n + 1):
        x = (3 + i * unit_mm) * s
        d.rectangle([x - 0.08 * s, 0, x + 0.08 * s, pattern[i % len(pattern)] * s], fill=0)
    return im.reduce(SUPERSAMPLE)


@pytest.mark.parametrize("px_per_mm", [2.4, 11.811])
def test_crude_ruler_without_antialiasing(px_per_mm):
    got, confidence = detect_ruler(_on_sheet(crude_ruler(px_per_mm)))
    assert got is not None and abs(got / px_per_mm - 1) < 0.01
    assert confidence >= 0.6


def test_half_mm_ruler_reports_mm_not_half_mm():
    # 0.5 mm ticks: cm 5 mm long, half-cm 3.5, mm 2, half-mm 1.2
    pattern = (5, 1.2, 2, 1.2, 2, 1.2, 2, 1.2, 2, 1.2, 3.5, 1.2, 2, 1.2, 2, 1.2, 2, 1.2, 2, 1.2)
    got, confidence = detect_ruler(_on_sheet(fine_ruler(8.0, 0.5, pattern)))
    assert got is not None and abs(got / 8.0 - 1) < 0.01
    assert confidence >= 0.6


def test_inch_only_ruler_is_rejected():
    """1/16 inch ticks are periodic but have no 5-tick rhythm; inches are not supported."""
    pattern = (5, 1.5, 2.2, 1.5, 3, 1.5, 2.2, 1.5, 4, 1.5, 2.2, 1.5, 3, 1.5, 2.2, 1.5)
    got, confidence = detect_ruler(_on_sheet(fine_ruler(6.0, 25.4 / 16, pattern)))
    assert got is None or confidence < 0.6


@pytest.mark.parametrize("seed", [1, 2])
def test_no_ruler_is_not_detected(seed):
    im = paper((2100, 1400), seed)
    clutter(im, seed, barcode=True)
    got, confidence = detect_ruler(np.asarray(im))
    assert got is None or confidence < 0.6


def test_uniform_comb_without_cm_ticks_is_rejected():
    """A grating of equal lines (fabric, a barcode-like strip) has no 5/10-mm rhythm."""
    im = paper((1500, 1500), 3)
    d = ImageDraw.Draw(im)
    for i in range(150):
        x = 200 + i * 6.0
        d.rectangle([x, 300, x + 1, 360], fill=(20, 20, 20))
    got, confidence = detect_ruler(np.asarray(im))
    assert got is None or confidence < 0.6


@pytest.mark.shared
@pytest.mark.skipif(not LM2.is_dir(), reason="shared LeafMachine2 demo sheets not present")
def test_leafmachine2_demo_sheets():
    """The 12 LM2 sheets share one ruler at ~4.54 px/mm (eye check: 590 px over 130 mm)."""
    paths = sorted(LM2.glob("*.jpg"))[:3]
    assert paths
    for path in paths:
        rgb = np.asarray(Image.open(path).convert("RGB"))
        got, confidence = detect_ruler(rgb)
        assert got is not None and abs(got / 4.538 - 1) < 0.01, path.name
        assert confidence >= 0.6


@pytest.mark.shared
@pytest.mark.skipif(not LM2.is_dir(), reason="shared LeafMachine2 demo sheets not present")
def test_a_soft_scan_keeps_its_ruler():
    """Blurred by a Gaussian of 1 px, the mm ticks (4.5 px apart) keep a third of their
    contrast, while leaf edges and text outscore them in the periodicity scan: the ruler must
    still be among the candidates measured (BENCHMARKS.md, "Rulers on soft scans")."""
    from PIL import ImageFilter

    path = sorted(LM2.glob("*.jpg"))[0]
    soft = Image.open(path).convert("RGB").filter(ImageFilter.GaussianBlur(1.0))
    got, confidence = detect_ruler(np.asarray(soft))
    assert got is not None and abs(got / 4.538 - 1) < 0.01
    assert confidence >= 0.6


@pytest.mark.shared
@pytest.mark.skipif(not LM2.is_dir(), reason="shared LeafMachine2 demo sheets not present")
def test_leafmachine2_sheets_without_their_ruler():
    """Leaves, veins, label text and a colour chart, but the ruler strip cut off: no scale."""
    for path in sorted(LM2.glob("*.jpg"))[:2]:
        rgb = np.asarray(Image.open(path).convert("RGB"))[110:]
        got, confidence = detect_ruler(rgb)
        assert got is None or confidence < 0.6, path.name


# --------------------------------------------------------------------------------------------
# dpi, table, resolution order
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dpi", "expected"),
    [
        ((72, 72), None),
        ((96, 96), None),
        ((300, 300), 300 / 25.4),
        ((None, None), None),
        ((300, None), None),
        ((300, 310), None),  # anisotropic
        ((300, 301), 300.5 / 25.4),  # within 1 %
        ((50, 50), None),  # implausible for a scan
        ((10000, 10000), None),
        ((float("nan"), float("nan")), None),
    ],
)
def test_dpi_px_per_mm(dpi, expected):
    got = dpi_px_per_mm(*dpi)
    if expected is None:
        assert got is None
    else:
        assert got == pytest.approx(expected)


def _write_csv(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    return path


def test_load_scale_table(tmp_path):
    path = _write_csv(
        tmp_path / "s.csv", [["key", "px_per_mm"], ["sheet_1", "11.81"], ["BR", " 5.9 "], []]
    )
    assert load_scale_table(path) == {"sheet_1": 11.81, "BR": 5.9}


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([["key", "scale"], ["a", "1"]], "missing"),
        ([["key", "px_per_mm"], ["a", "abc"]], "not a number"),
        ([["key", "px_per_mm"], ["a", "0"]], "> 0"),
        ([["key", "px_per_mm"], ["a", "-3"]], "> 0"),
        ([["key", "px_per_mm"], ["a", "inf"]], "> 0"),
        ([["key", "px_per_mm"], ["", "3"]], "empty key"),
        ([["key", "px_per_mm"], ["a", "3"], ["a", "4"]], "twice"),
    ],
)
def test_load_scale_table_rejects_bad_rows(tmp_path, rows, message):
    path = _write_csv(tmp_path / "s.csv", rows)
    with pytest.raises(ValueError, match=message):
        load_scale_table(path)


@pytest.fixture(scope="module")
def ruler_sheet() -> np.ndarray:
    return sheet_with_ruler(5.9, shape=(1800, 1200), where=(0.1, 0.03))


def test_resolve_table_beats_ruler_and_dpi(ruler_sheet):
    got = resolve_scale(table_value=10.0, rgb=ruler_sheet, dpi_x=300, dpi_y=300)
    assert got == Scale(10.0, "table", 1.0)


def test_resolve_ruler_beats_dpi(ruler_sheet):
    got = resolve_scale(table_value=None, rgb=ruler_sheet, dpi_x=300, dpi_y=300)
    assert got.source == "ruler"
    assert got.px_per_mm == pytest.approx(5.9, rel=0.01)
    assert got.confidence is not None and got.confidence >= 0.6


def test_resolve_dpi_when_ruler_disabled_or_absent(ruler_sheet):
    got = resolve_scale(
        table_value=None, rgb=ruler_sheet, dpi_x=300, dpi_y=300, ruler_enabled=False
    )
    assert got == Scale(300 / 25.4, "dpi", 1.0)
    blank = np.asarray(paper((600, 400), 5))
    assert resolve_scale(table_value=None, rgb=blank, dpi_x=300, dpi_y=300).source == "dpi"


def test_resolve_none_for_72_dpi_sheet_without_ruler():
    blank = np.asarray(paper((600, 400), 6))
    got = resolve_scale(table_value=None, rgb=blank, dpi_x=72, dpi_y=72)
    assert got == Scale(None, "none", None)


def test_resolve_rejects_bad_table_value():
    with pytest.raises(ValueError):
        resolve_scale(table_value=0.0, rgb=None, dpi_x=None, dpi_y=None)
