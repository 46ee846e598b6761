"""Mask clean-up: each step, its sizes in sheet pixels, and measure going through it."""

from __future__ import annotations

import numpy as np
import pytest

from herbseg.io.images import write_mask
from herbseg.measurement.postprocess import PostprocessSettings, clean
from herbseg.stages.measure import MeasureSettings, measure_sheet


def blob_with_hole_and_speck() -> np.ndarray:
    m = np.zeros((100, 100), bool)
    m[20:60, 20:60] = True  # a 40×40 leaf ...
    m[35:38, 35:38] = False  # ... with a 9 px pinhole
    m[80:82, 80:82] = True  # and a 4 px speck
    return m


def test_defaults_change_nothing_and_never_alias_the_input():
    m = blob_with_hole_and_speck()
    out = clean(m, PostprocessSettings())
    assert (out == m).all() and out is not m


def test_each_step_does_its_own_job():
    m = blob_with_hole_and_speck()
    filled = clean(m, PostprocessSettings(fill_holes_px=9))
    assert filled[35:38, 35:38].all() and filled[80:82, 80:82].all()
    assert not clean(m, PostprocessSettings(fill_holes_px=8))[35:38, 35:38].any()
    no_speck = clean(m, PostprocessSettings(min_component_px=5))
    assert not no_speck[80:82, 80:82].any() and no_speck[20:60, 20:60].sum() == 1600 - 9
    opened = clean(m, PostprocessSettings(speck_radius_px=2))
    assert not opened[80:82, 80:82].any() and opened[25:55, 25:30].all()


def test_sizes_are_sheet_pixels_whatever_the_mask_size():
    """A mask written at half the sheet's size: 1 mask pixel is 4 sheet pixels."""
    m = blob_with_hole_and_speck()
    # the 4 px speck is 16 sheet pixels: kept at 16, dropped at 20 (5 mask pixels)
    assert clean(m, PostprocessSettings(min_component_px=16), scale=0.5)[80:82, 80:82].all()
    assert not clean(m, PostprocessSettings(min_component_px=20), scale=0.5)[80:82, 80:82].any()
    # the 9 px hole is 36 sheet pixels (sizes are rounded to whole mask pixels)
    assert not clean(m, PostprocessSettings(fill_holes_px=30), scale=0.5)[36, 36]
    assert clean(m, PostprocessSettings(fill_holes_px=36), scale=0.5)[36, 36]


def test_unknown_settings_are_refused():
    from herbseg.config.settings import settings_from

    with pytest.raises(ValueError, match="postprocess.fill_hole_px"):
        settings_from(PostprocessSettings, {"fill_hole_px": 3}, "postprocess")
    assert settings_from(PostprocessSettings, None, "postprocess") == PostprocessSettings()


def test_measure_cleans_through_postprocess_and_keeps_min_leaf_px(tmp_path):
    path = tmp_path / "mask.png"
    write_mask(path, blob_with_hole_and_speck())
    row = {"sheet_id": "s", "width": 100, "height": 100, "path": str(tmp_path / "none.jpg")}
    pred = {"mask_path": str(path)}
    plain = MeasureSettings(min_leaf_px=5, ruler=False)
    out, leaves = measure_sheet(row, pred, None, plain)
    assert out["leaf_px"] == 1600 - 9 and len(leaves) == 1  # speck below min_leaf_px: gone
    filled = MeasureSettings(
        min_leaf_px=1, ruler=False, postprocess=PostprocessSettings(fill_holes_px=10)
    )
    out, leaves = measure_sheet(row, pred, None, filled)
    assert out["leaf_px"] == 1600 + 4 and len(leaves) == 2  # hole filled, speck kept
