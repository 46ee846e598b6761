"""Thresholded distances (herbseg.measurement.distance) give SciPy's answers pixel for pixel."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from herbseg.measurement.distance import cut, deeper_than, distance_inside, wide_parts, within


def blobs(seed: int, shape=(300, 400)) -> np.ndarray:
    """Random smooth blobs and thin streaks, touching the array's edges."""
    rng = np.random.default_rng(seed)
    field = ndi.gaussian_filter(rng.normal(size=shape), 6)
    mask = field > np.quantile(field, 0.7)
    mask[rng.integers(0, shape[0]), :] = True  # a one-pixel line across, to both edges
    return mask


# whole radii (the refinement's bands), radii whose square is whole, and arbitrary ones
RADII = [0.0, 1.0, 2.0, 3.0, 8.0, 12.0, np.sqrt(5), np.sqrt(50), 2.5, 7.3, 27.34375]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_thresholds_match_scipy(seed):
    mask = blobs(seed)
    inside, outside = ndi.distance_transform_edt(mask), ndi.distance_transform_edt(~mask)
    for r in RADII:
        assert np.array_equal(deeper_than(mask, r), inside > r), r
        assert np.array_equal(within(mask, r), outside <= r), r
        inner = inside > r
        if inner.any():
            expected = ndi.distance_transform_edt(~inner) <= r
        else:  # SciPy would measure from beyond the array's corner (last test)
            expected = np.zeros_like(mask)
        assert np.array_equal(wide_parts(mask, r), expected), r


def test_the_cut_sits_between_achievable_distances():
    squares = np.arange(0, 20000)
    d = np.sqrt(squares)
    for r in RADII + [np.sqrt(k) for k in (2, 8, 99, 10000)]:
        c = cut(r)
        assert np.array_equal(d > c, d > r), r
        assert np.abs(d - c).min() > 1e-5  # float32 rounding cannot cross it


def test_distances_are_scipys_in_float32():
    mask = blobs(3)
    assert distance_inside(mask).dtype == np.float32
    np.testing.assert_allclose(distance_inside(mask), ndi.distance_transform_edt(mask), atol=1e-4)


def test_no_pixel_outside_means_nothing_is_within_reach():
    """SciPy measures an all-True mask from a point beyond its corner; here nothing is near."""
    empty = np.zeros((40, 50), bool)
    assert not within(empty, 5.0).any()
    assert not wide_parts(empty, 2.0).any()
    assert deeper_than(np.ones((40, 50), bool), 5.0).all()
