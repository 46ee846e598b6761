"""Scales of every kind (issue 21): checker strips and tick rulers in any orientation, refusal,
the evidence crops, and a few real Violaceae sheets whose px/mm was measured by eye."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image, ImageDraw

from herbseg.measurement.scale import resolve_scale
from herbseg.measurement.scale_detect import detect_scale
from herbseg.reporting.scale_evidence import (
    draw_scale_evidence,
    plan_scale_evidence,
    scale_problems,
)
from herbseg.stages.measure import scale_columns
from herbseg.synth.scales import checker_strip
from herbseg.synth.sheets import generate_sheet

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
VIOLACEAE = SHARED / "data" / "violaceae" / "images"
DATA = REPO / "tests" / "data"


def _jpeg(rgb: np.ndarray, quality: int = 85) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=quality)
    return np.asarray(Image.open(buf).convert("RGB"))


def _paper(h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = np.array([236, 232, 220], np.float32)
    return np.clip(base + rng.normal(0, 4, (h, w, 3)), 0, 255).astype(np.uint8)


def _sheet_with_checker(
    ppm: float,
    vertical: bool,
    angle: float,
    seed: int = 0,
    length_mm: float = 150,
    size: tuple[int, int] = (1000, 750),
) -> np.ndarray:
    """A sheet (phone-photo size unless ``size``) with a checker strip near an edge."""
    rng = np.random.default_rng(seed)
    strip, _ = checker_strip(ppm, round(length_mm * ppm), round(12 * ppm), rng)
    img = Image.fromarray(strip, "RGBA")
    if vertical:
        img = img.transpose(Image.Transpose.ROTATE_270)
    if angle:
        img = img.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True)
    sheet = Image.fromarray(_paper(*size, seed))
    at = (size[1] - 150, 150) if vertical else (20, 15)
    sheet.paste(img, at, img)
    draw = ImageDraw.Draw(sheet)  # some clutter: text and a leaf-ish blob
    draw.text((100, 700), "Viola mandshurica W.Becker  leg. 1998", fill=(30, 30, 30))
    draw.ellipse((250, 300, 420, 600), fill=(70, 100, 50))
    return _jpeg(np.asarray(sheet))


@pytest.mark.parametrize(
    ("ppm", "vertical", "angle"),
    [(2.3, False, 0.0), (2.3, True, 0.0), (2.3, False, 1.5), (2.3, True, -2.0), (4.0, False, 0.0)],
)
def test_checker_strip_any_orientation(ppm, vertical, angle):
    found = detect_scale(_sheet_with_checker(ppm, vertical, angle))
    _check_checker(found, ppm, vertical)


def test_checker_strip_on_a_large_sheet():
    """A 2000 px scan is scanned for blocks at half size; px/mm and span come back in full."""
    found = detect_scale(_sheet_with_checker(4.7, True, 0.0, size=(2000, 1400)))
    _check_checker(found, 4.7, True)
    assert found.start[0] > 1400 - 150  # the strip's place, in the sheet's own pixels


def _check_checker(found, ppm: float, vertical: bool) -> None:
    assert found is not None and found.kind == "checker"
    assert found.orientation == ("vertical" if vertical else "horizontal")
    assert abs(found.px_per_mm / ppm - 1) < 0.01, found
    assert found.confidence >= 0.6
    assert found.span_px >= 6 * 10 * ppm  # measured over >= 6 cm


@pytest.mark.parametrize("kind", ["ticks-vertical", "checker", "checker-vertical"])
def test_synthetic_sheets_of_each_kind(kind):
    """The generator's new kinds at phone resolution (60 dpi = 2.36 px/mm) are read within 1 %."""
    sheet = generate_sheet(5, 750, 1000, 60.0, index=1, scale_kind=kind)
    found = detect_scale(_jpeg(sheet.rgb, 90))
    assert found is not None and found.confidence >= 0.6
    assert found.orientation == ("vertical" if kind.endswith("vertical") else "horizontal")
    assert abs(found.px_per_mm / sheet.px_per_mm - 1) < 0.01


def test_default_synthetic_sheet_is_unchanged_by_the_option():
    a = generate_sheet(3, 300, 450, 40.0, index=0)
    b = generate_sheet(3, 300, 450, 40.0, index=0, scale_kind="ticks")
    assert np.array_equal(a.rgb, b.rgb)
    with pytest.raises(ValueError, match="scale kind"):
        generate_sheet(3, 300, 450, 40.0, scale_kind="zebra")


def test_no_scale_from_barcodes_grey_ramps_and_text():
    """Things that alternate dark and light but are not cm blocks give no usable scale."""
    sheet = Image.fromarray(_paper(1000, 750, 3))
    draw = ImageDraw.Draw(sheet)
    rng = np.random.default_rng(1)
    x = 60
    while x < 300:  # a barcode: bars 1-4 px, unequal
        w = int(rng.integers(1, 5))
        draw.rectangle((x, 900, x + w - 1, 950), fill=(10, 10, 10))
        x += w + int(rng.integers(1, 5))
    for i, g in enumerate((250, 200, 150, 100, 50, 20)):  # a grey ramp: patches and gaps differ
        draw.rectangle((400 + i * 40, 40, 428 + i * 40, 70), fill=(g, g, g))
    for row in range(8):
        draw.text((60, 200 + 30 * row), "Herbarium Universitatis  " * 3, fill=(20, 20, 20))
    found = detect_scale(_jpeg(np.asarray(sheet)))
    assert found is None or found.confidence < 0.6


def test_refused_scale_gets_a_note_and_a_problem_row():
    rgb = _sheet_with_checker(2.3, False, 0.0, length_mm=115)  # 7 blocks: confidence < 0.9
    used = resolve_scale(table_value=None, rgb=rgb, dpi_x=None, dpi_y=None)
    assert used.source == "ruler" and used.detection.kind == "checker" and used.note == ""
    assert used.confidence < 0.95
    refused = resolve_scale(
        table_value=None, rgb=rgb, dpi_x=None, dpi_y=None, min_ruler_confidence=0.95
    )
    assert refused.source == "none" and refused.px_per_mm is None
    assert "checker" in refused.note and "min_ruler_confidence" in refused.note
    rows = pd.DataFrame(
        [
            {"sheet_id": "a", "path": "a.jpg", "width": 750} | scale_columns(used),
            {"sheet_id": "b", "path": "b.jpg", "width": 750} | scale_columns(refused),
            {"sheet_id": "c", "path": "c.jpg", "width": 750}
            | scale_columns(resolve_scale(table_value=None, rgb=None, dpi_x=None, dpi_y=None)),
        ]
    )
    problems = scale_problems(rows)
    assert list(problems["sheet_id"]) == ["b"] and problems["status"].iloc[0] == "scale refused"
    plan = plan_scale_evidence(rows, n_sample=5, low_confidence=0.5)
    assert [(reason, r["sheet_id"]) for reason, r in plan] == [("refused", "b"), ("sample", "a")]
    crop = draw_scale_evidence(rgb, plan[1][1])
    assert crop.width >= 640 and crop.height > 34


def _truth() -> dict[str, float]:
    with (DATA / "violaceae_scale_truth.csv").open() as fh:
        rows = csv.DictReader(line for line in fh if not line.startswith("#"))
        return {r["sheet_id"]: float(r["px_per_mm"]) for r in rows}


def _violaceae(sheet_id: str) -> np.ndarray:
    path = VIOLACEAE / sheet_id.split("_")[0] / f"{sheet_id}.jpg"
    return np.asarray(Image.open(path).convert("RGB"))


@pytest.mark.shared
@pytest.mark.skipif(not VIOLACEAE.is_dir(), reason="shared Violaceae sheets not present")
@pytest.mark.parametrize("sheet_id", ["V11_02_234", "V27_01_008", "V34_01_027"])
def test_real_violaceae_scales_within_two_percent_of_by_eye(sheet_id):
    found = detect_scale(_violaceae(sheet_id))
    assert found is not None and found.confidence >= 0.6
    assert abs(found.px_per_mm / _truth()[sheet_id] - 1) < 0.02


@pytest.mark.shared
@pytest.mark.skipif(not VIOLACEAE.is_dir(), reason="shared Violaceae sheets not present")
@pytest.mark.parametrize("sheet_id", ["V02_04_004", "V25_04_007"])
def test_real_violaceae_sheets_without_a_scale(sheet_id):
    found = detect_scale(_violaceae(sheet_id))
    assert found is None or found.confidence < 0.6


def test_labels_cover_all_sheets_once():
    with (DATA / "violaceae_scales.csv").open() as fh:
        rows = list(csv.DictReader(line for line in fh if not line.startswith("#")))
    assert len(rows) == 345 and len({r["sheet_id"] for r in rows}) == 345
    assert {r["kind"] for r in rows} <= {"checker", "ticks", "bar", "none"}
    assert all((r["usable"] == "1") == (r["kind"] != "none") for r in rows)
