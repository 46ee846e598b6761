"""Synthetic grasses look like pressed grasses: straight culms and blades folded back to fit the
sheet, folds that fill solid, and heads of spikelets on hair-fine branches at the culms' tips."""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

from herbseg.synth.grasses import _blade_widths, _ribbon, pressed_path
from herbseg.synth.plant import generate_plant_sheet


def _turns(pts: np.ndarray) -> np.ndarray:
    d = np.diff(pts, axis=0)
    a = np.unwrap(np.arctan2(d[:, 1], d[:, 0]))
    return np.abs(np.diff(a))


def test_pressed_paths_run_straight_and_fold_back_inside_the_region():
    region = (0, 0, 400, 600)
    folds = 0
    for seed in range(40):
        rng = np.random.default_rng(seed)
        pts = pressed_path(rng, np.array([200.0, 590.0]), -math.pi / 2, 1500, region,
                           fold_p=1.0, kink_p=0.0)  # fmt: skip
        x0, y0, x1, y1 = region
        assert (pts[:, 0] >= x0).all() and (pts[:, 0] < x1).all()
        assert (pts[:, 1] >= y0).all() and (pts[:, 1] < y1).all()
        turns = _turns(pts)
        sharp = turns > 2.0
        folds += int(sharp.any())
        assert sharp.sum() <= 1, "folded once at most"
        # between folds a pressed culm is straight: no wandering like a herb's stem
        assert np.percentile(turns[~sharp], 99) < 0.05
        total = np.hypot(*np.diff(pts, axis=0).T).sum()
        assert total > 590 if sharp.any() else total <= 600
    assert folds >= 30, "a culm longer than the sheet is folded back, not cut off"


def test_a_folded_blade_fills_solid():
    """A hairpin drawn as one polygon crosses itself and PIL leaves the crossing unfilled."""
    pts = np.concatenate([np.stack([np.full(40, 50.0), np.linspace(150, 30, 40)], 1),
                          np.stack([np.linspace(50, 58, 4), np.full(4, 28.0)], 1),
                          np.stack([np.full(40, 60.0), np.linspace(30, 140, 40)], 1)])  # fmt: skip
    img = Image.new("L", (120, 170), 0)
    _ribbon(ImageDraw.Draw(img), pts, np.full(len(pts), 14.0), 255)
    band = np.asarray(img) > 0
    assert np.array_equal(band, ndimage.binary_fill_holes(band))
    assert band[100, 50] and band[100, 60] and band[30, 55]


def test_a_blade_keeps_its_width_then_tapers_to_a_point():
    w = _blade_widths(100, 10.0, np.random.default_rng(0))
    assert w[0] == 10.0 and w[40] == 10.0 and w[-1] == 0.0
    assert (np.diff(w) <= 0).all()


def test_grass_heads_are_spikelets_on_fine_branches_at_the_top_of_the_plant():
    fine = spikelets = 0
    for index in range(6):
        s = generate_plant_sheet(7, 750, 1100, 100, index=index, kind="grass")
        ys = np.nonzero(s.mask)[0]
        top = np.zeros_like(s.mask)
        top[: int(np.percentile(ys, 20))] = True  # the upper fifth of the plant: the heads
        width = ndimage.distance_transform_edt(s.thin)
        thin_top = s.thin & top & ~ndimage.binary_opening(s.thin, np.ones((3, 3), bool))
        fine += int(thin_top.sum() > 20 and width[thin_top].max() <= 2)
        heads = s.mask & ~s.thin & top
        labels, n = ndimage.label(heads)
        sizes = ndimage.sum_labels(heads, labels, range(1, n + 1))
        spikelets += int(n > 0 and np.median(sizes) < (s.px_per_mm * 10) ** 2)
    assert fine >= 5 and spikelets >= 5
