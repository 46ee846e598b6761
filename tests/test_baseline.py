"""The classical baseline on a drawn sheet: plant found, table, label, chart and stamp ignored."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from herbseg.io.images import read_mask
from herbseg.measurement.metrics import confusion, scores
from herbseg.measurement.sheet_region import find_sheet
from herbseg.stages.baseline import (
    BaselineSettings,
    fit_model,
    load_fitted,
    save_fitted,
    segment,
    segment_rows,
)
from herbseg.stages.predict import PREDICT_COLUMNS
from tests.helpers import DRAWN_H, DRAWN_W, drawn_sheet

W, H = DRAWN_W, DRAWN_H  # drawn_sheet's size
SETTINGS = BaselineSettings(method="otsu", long_side=400, min_component_px=30, fill_holes_px=50)


def iou(pred: np.ndarray, truth: np.ndarray) -> float:
    return scores(*confusion(pred, truth))["iou"]


def test_otsu_finds_the_plant_and_nothing_else():
    rgb, truth = drawn_sheet()
    mask = segment(rgb, SETTINGS)
    assert mask.shape == truth.shape
    assert iou(mask, truth) > 0.85
    assert not mask[:15].any() and not mask[:, :20].any()  # table
    assert not mask[320:371, 170:271].any()  # label and its text
    assert not mask[330:351, 30:117].any()  # colour chart
    assert not mask[30:66, 230:266].any()  # stamp


def test_sheet_is_the_paper_not_the_table():
    from skimage.color import rgb2lab

    rgb, _ = drawn_sheet()
    sheet = find_sheet(rgb2lab(rgb), margin=0.0)
    assert sheet[200, 150] and not sheet[5, 5] and not sheet[200, 5]
    assert abs(sheet.mean() - (W - 40) * (H - 30) / (W * H)) < 0.03


def test_learned_model_fits_saves_and_generalises(tmp_path):
    settings = BaselineSettings(method="learned", long_side=400, min_component_px=30)
    train = [drawn_sheet(1), drawn_sheet(2)]
    model = fit_model(train, settings, pixels_per_sheet=3000, log=lambda m: None)
    assert 0.3 <= model.threshold <= 0.98 and model.fit_iou > 0.8
    save_fitted(tmp_path / "model.json", settings, model)
    again = load_fitted(tmp_path / "model.json")
    rgb, truth = drawn_sheet(3)
    assert iou(segment(rgb, settings, again), truth) > 0.85
    save_fitted(tmp_path / "otsu.json", SETTINGS, None)
    assert load_fitted(tmp_path / "otsu.json") is None


def test_fitting_on_threads_gives_the_same_model():
    """Sheets are analysed and thresholds scored on threads; sampling stays in sheet order."""
    settings = BaselineSettings(method="learned", long_side=400, min_component_px=30)
    train = [drawn_sheet(1), drawn_sheet(2), drawn_sheet(3)]
    one = fit_model(train, settings, pixels_per_sheet=3000, log=lambda m: None)
    three = fit_model(train, settings, pixels_per_sheet=3000, threads=3, log=lambda m: None)
    assert one == three
    with pytest.raises(ValueError, match="3 samples but 2 sheet widths"):
        fit_model(train, settings, sheet_widths=[W, W], log=lambda m: None)


def test_settings_are_checked():
    from herbseg.config.settings import settings_from

    with pytest.raises(ValueError, match="baseline.methd"):
        settings_from(BaselineSettings, {"methd": "otsu"}, "baseline")
    with pytest.raises(ValueError, match="method"):
        BaselineSettings(method="kmeans")
    with pytest.raises(ValueError, match="fitted model"):
        segment(drawn_sheet()[0], BaselineSettings(method="learned"))


def test_segment_rows_writes_sheet_geometry_and_keeps_failures(tmp_path):
    rgb, truth = drawn_sheet()
    Image.fromarray(rgb).save(tmp_path / "a.png")
    (tmp_path / "b.jpg").write_bytes(b"not an image")
    rows = pd.DataFrame(
        {
            "sheet_id": ["a", "b", "c"],
            "path": [str(tmp_path / "a.png"), str(tmp_path / "b.jpg"), ""],
            "width": [W, W, ""],
            "height": [H, H, ""],
            "status": ["ok", "ok", "error"],
        }
    )
    table = segment_rows(rows, tmp_path / "masks", SETTINGS, None, long_side=200)
    assert list(table.columns) == PREDICT_COLUMNS and list(table["sheet_id"]) == ["a", "b"]
    a = table.iloc[0]
    assert a["status"] == "ok" and (a["mask_w"], a["mask_h"]) == (150, 200)
    mask = read_mask(a["mask_path"])
    assert mask.shape == (200, 150)
    small_truth = np.asarray(Image.fromarray(truth).resize((150, 200), Image.NEAREST))
    assert iou(mask, small_truth) > 0.8
    assert table.iloc[1]["status"] == "error" and table.iloc[1]["error"]
