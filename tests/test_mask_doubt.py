"""The per-sheet doubt (``herbseg.model.masks.mask_doubt``): which masks a person checks first."""

from __future__ import annotations

import numpy as np
import pytest

from herbseg.model.masks import UNSURE, mask_doubt


def _leaf(prob_inside: float, size: int = 64) -> np.ndarray:
    """Paper at 0.02 with a 20×20 leaf at ``prob_inside``."""
    prob = np.full((size, size), 0.02, np.float32)
    prob[20:40, 20:40] = prob_inside
    return prob


def test_a_confident_mask_has_no_doubt_and_an_empty_sheet_none_either():
    assert mask_doubt(_leaf(0.97)) == 0.0
    assert mask_doubt(np.full((32, 32), 0.02, np.float32)) == 0.0  # nothing marked, nothing unsure
    assert mask_doubt(np.full((32, 32), 0.99, np.float32)) == 0.0


def test_doubt_is_the_unsure_share_of_the_plant():
    prob = _leaf(0.95)
    prob[20:30, 40:60] = 0.35  # a pale half leaf the network half saw: 200 px beside 400
    assert mask_doubt(prob) == pytest.approx(200 / 600)
    prob[20:30, 40:60] = 0.6  # now marked, still unsure: counted once
    assert mask_doubt(prob) == pytest.approx(200 / 600)


def test_the_unsure_band_is_open_and_ranks_a_half_seen_leaf_above_a_sharp_one():
    lo, hi = UNSURE
    assert mask_doubt(_leaf(hi)) == 0.0 and mask_doubt(_leaf(lo)) == 0.0  # the ends are sure
    sharp, blurred = _leaf(0.95), _leaf(0.95)
    blurred[19:41, 19:41] = np.where(blurred[19:41, 19:41] < 0.5, 0.3, blurred[19:41, 19:41])
    assert 0 < mask_doubt(blurred) < mask_doubt(_leaf(0.45)) == 1.0
    assert mask_doubt(sharp) == 0.0
