"""The flood-fill hole filling (herbseg.measurement.holes) gives SciPy's pixels."""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from herbseg.measurement.holes import fill_holes


def test_fill_holes_is_scipys_on_random_and_edge_masks():
    rng = np.random.default_rng(0)
    masks = [
        rng.random((int(rng.integers(1, 60)), int(rng.integers(1, 60)))) < rng.random()
        for _ in range(300)
    ]
    masks += [np.zeros((5, 5), bool), np.ones((5, 5), bool), np.zeros((1, 9), bool)]
    ring = np.zeros((9, 9), bool)
    ring[2:7, 2:7] = True
    ring[4, 4] = False  # a one-pixel hole
    ring[3, 2] = False  # a bay open to the outside, not a hole
    masks.append(ring)
    for i, m in enumerate(masks):
        assert np.array_equal(fill_holes(m), ndi.binary_fill_holes(m)), i
    assert fill_holes(ring)[4, 4] and not fill_holes(ring)[3, 2]


def test_a_diagonal_gap_does_not_let_the_outside_in():
    """Background is 4-connected: a hole whose only way out is a diagonal step stays a hole."""
    m = np.ones((5, 5), bool)
    m[0, 0] = False
    m[1, 1] = False
    assert fill_holes(m)[1, 1] and not fill_holes(m)[0, 0]
