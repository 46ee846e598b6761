"""Tests of herbseg.measurement.traits on drawn shapes whose geometry is known analytically."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from skimage.draw import ellipse

from herbseg.measurement.traits import COLUMNS, IntactRule, leaf_traits, sheet_summary


def ramanujan(a: float, b: float) -> float:
    h = ((a - b) / (a + b)) ** 2
    return math.pi * (a + b) * (1 + 3 * h / (10 + math.sqrt(4 - 3 * h)))


def draw_ellipse(shape, centre, a, b, rotation=0.0, mask=None):
    """Ellipse with semi-axis ``a`` along the columns (before rotation) and ``b`` along rows."""
    mask = np.zeros(shape, bool) if mask is None else mask
    rr, cc = ellipse(centre[0], centre[1], b, a, shape=shape, rotation=rotation)
    mask[rr, cc] = True
    return mask


def test_rectangle_exact_geometry():
    """Pixel-corner convention: length is the diagonal, width 2wh/diag across it."""
    w, h = 100, 40
    mask = np.zeros((200, 300), bool)
    mask[50 : 50 + h, 100 : 100 + w] = True
    row = leaf_traits(mask, None).iloc[0]
    diag = math.hypot(w, h)
    assert row["area_px"] == w * h
    assert row["length_px"] == pytest.approx(diag, abs=1e-9)
    assert row["width_px"] == pytest.approx(2 * w * h / diag, abs=1e-9)
    assert row["solidity"] == pytest.approx(1.0)
    assert row["bbox"] == "50,100,90,200"
    assert (row["centroid_x"], row["centroid_y"]) == pytest.approx((149.5, 69.5))
    # Crofton is low on straight axis-aligned edges (documented); within 6 % of 2(w+h)
    assert row["perimeter_px"] == pytest.approx(2 * (w + h), rel=0.06)
    assert bool(row["intact"]) and not bool(row["touches_edge"])


def test_ellipse_geometry():
    a, b = 150, 60
    row = leaf_traits(draw_ellipse((600, 600), (300, 300), a, b), None).iloc[0]
    assert row["area_px"] == pytest.approx(math.pi * a * b, rel=0.01)
    assert row["length_px"] == pytest.approx(2 * a, rel=0.01)
    assert row["width_px"] == pytest.approx(2 * b, rel=0.02)
    assert row["perimeter_px"] == pytest.approx(ramanujan(a, b), rel=0.03)
    assert row["eccentricity"] == pytest.approx(math.sqrt(1 - (b / a) ** 2), rel=0.01)
    assert row["solidity"] > 0.98


@pytest.mark.parametrize("degrees", [30, -30, 75])
def test_rotated_leaf_like_ellipse(degrees):
    a, b = 200, 45
    mask = draw_ellipse((700, 700), (350, 350), a, b, rotation=math.radians(degrees))
    row = leaf_traits(mask, None).iloc[0]
    assert row["length_px"] == pytest.approx(2 * a, rel=0.02)
    assert row["width_px"] == pytest.approx(2 * b, rel=0.02)
    assert row["perimeter_px"] == pytest.approx(ramanujan(a, b), rel=0.03)


def test_specks_removed_and_ids_follow_labels():
    mask = draw_ellipse((400, 400), (100, 100), 40, 20)
    draw_ellipse((400, 400), (300, 300), 50, 30, mask=mask)
    mask[10:15, 300:310] = True  # 50 px speck
    mask[390, 390] = True
    frame = leaf_traits(mask, None, IntactRule(min_area_px=200))
    assert list(frame["leaf_id"]) == [1, 2]
    assert (frame["area_px"] >= 200).all()
    assert frame["centroid_y"].is_monotonic_increasing  # raster label order
    assert list(frame.columns) == COLUMNS


def test_eight_connectivity_joins_diagonal_touch():
    mask = np.zeros((100, 100), bool)
    mask[10:30, 10:30] = True
    mask[30:50, 30:50] = True  # touches the first square only at a corner
    assert len(leaf_traits(mask, None, IntactRule(min_area_px=10))) == 1


def test_edge_touching_leaf_is_not_intact():
    mask = draw_ellipse((400, 400), (200, 200), 80, 40)
    mask[150:200, 0:60] = True  # cut-off leaf at the left border
    frame = leaf_traits(mask, None)
    edge = frame[frame["touches_edge"]]
    assert len(edge) == 1 and not edge["intact"].any()
    assert frame[~frame["touches_edge"]]["intact"].all()
    relaxed = leaf_traits(mask, None, IntactRule(exclude_edge=False))
    assert relaxed["intact"].all()


def test_low_solidity_and_huge_components_are_not_intact():
    mask = np.zeros((400, 400), bool)
    mask[50:60, 50:250] = True  # an L: solidity ~0.1
    mask[50:250, 50:60] = True
    huge = np.zeros((100, 100), bool)
    huge[5:95, 5:95] = True  # 81 % of the sheet
    assert not leaf_traits(mask, None)["intact"].any()
    assert not leaf_traits(huge, None)["intact"].any()


def test_mm_columns_follow_scale():
    mask = draw_ellipse((500, 500), (250, 250), 120, 50)
    px = leaf_traits(mask, None).iloc[0]
    mm = leaf_traits(mask, 11.811).iloc[0]
    assert mm["area_mm2"] == pytest.approx(px["area_px"] / 11.811**2)
    for name in ("perimeter", "length", "width"):
        assert mm[f"{name}_mm"] == pytest.approx(px[f"{name}_px"] / 11.811)
    for col in ("area_mm2", "perimeter_mm", "length_mm", "width_mm"):
        assert math.isnan(px[col])  # never 0


def test_bad_scale_and_mask_rejected():
    mask = np.zeros((10, 10), bool)
    for bad in (0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError):
            leaf_traits(mask, bad)
    with pytest.raises(ValueError):
        leaf_traits(np.zeros((4, 4, 3)), None)


def test_empty_mask_gives_empty_frame_and_summary():
    frame = leaf_traits(np.zeros((50, 50), np.uint8), 5.0)
    assert list(frame.columns) == COLUMNS and len(frame) == 0
    assert sheet_summary(frame) == {
        "n_leaves": 0,
        "n_intact": 0,
        "median_intact_area_mm2": None,
        "median_intact_length_mm": None,
    }


def test_sheet_summary():
    mask = draw_ellipse((600, 600), (150, 150), 100, 40)
    draw_ellipse((600, 600), (400, 400), 60, 30, mask=mask)
    draw_ellipse((600, 600), (300, 0), 60, 30, mask=mask)  # cut off at the edge
    frame = leaf_traits(mask, 4.0)
    summary = sheet_summary(frame)
    intact = frame[frame["intact"]]
    assert summary["n_leaves"] == 3 and summary["n_intact"] == 2
    assert summary["median_intact_area_mm2"] == pytest.approx(intact["area_mm2"].median())
    assert summary["median_intact_length_mm"] == pytest.approx(intact["length_mm"].median())
    unscaled = sheet_summary(leaf_traits(mask, None))
    assert unscaled["n_intact"] == 2 and unscaled["median_intact_area_mm2"] is None


def test_label_image_counts_as_binary():
    mask = np.zeros((300, 300), np.int32)
    mask[50:100, 50:150] = 7
    mask[100:150, 50:150] = 3  # touching labels form one leaf
    assert len(leaf_traits(mask, None)) == 1


def test_sheet_sized_mask_with_twenty_separate_leaves():
    """A 2000x3000 sheet of 20 disjoint ellipses gives 20 rows (no timing here: benchmarks time)."""
    rng = np.random.default_rng(0)
    mask = np.zeros((3000, 2000), bool)
    for i in range(20):
        centre = (150 + (i // 4) * 560, 250 + (i % 4) * 480)
        draw_ellipse(
            mask.shape,
            centre,
            rng.uniform(120, 220),
            rng.uniform(40, 100),
            rotation=rng.uniform(0, math.pi),
            mask=mask,
        )
    frame = leaf_traits(mask, 5.0)
    assert len(frame) == 20
    assert isinstance(frame, pd.DataFrame)


def test_solidity_agrees_with_regionprops():
    from skimage.measure import label, regionprops

    mask = draw_ellipse((400, 400), (200, 200), 120, 50, rotation=0.4)
    mask[200:230, 200:320] = False  # a bite out of the blade
    ours = leaf_traits(mask, None)["solidity"].iloc[0]
    assert ours == pytest.approx(regionprops(label(mask))[0].solidity, abs=0.01)
    assert ours < 0.95
