"""Damaged leaves (synth_damage) must change the blade the way their reason says, and only then."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from herbseg.synth import sheets as synth
from herbseg.synth.damage import DAMAGE_KINDS, damage_leaf

W, H, DPI = 500, 750, 75.0


def _scene_with_leaf(seed: int = 1):
    """A sheet's scene with one undamaged lanceolate/elliptic leaf placed in its middle."""
    rng = np.random.default_rng(seed)
    ppm = DPI / 25.4
    scene = synth._Scene(
        rng,
        ppm,
        1.0,
        np.zeros((H, W, 3), np.uint8),
        np.zeros((H, W), np.int16),
        np.zeros((H, W), bool),
        np.zeros((H, W), bool),
    )
    leaf = synth._make_leaf(scene, "elliptic", np.array([250.0, 375.0]), -1.2, 50 * ppm)
    assert leaf is not None
    return scene, leaf


def _holes(raster: np.ndarray) -> int:
    return int(ndimage.binary_fill_holes(raster).sum() - raster.sum())


@pytest.mark.parametrize("kind", DAMAGE_KINDS)
def test_each_kind_changes_the_blade_as_named(kind):
    scene, leaf = _scene_with_leaf()
    out = damage_leaf(scene, leaf, kind)
    assert out is not None and out.damage == kind
    before, after = int(leaf.raster.sum()), int(out.raster.sum())
    if kind == "insect_holes":
        assert _holes(out.raster) > 0 and _holes(leaf.raster) == 0
    elif kind == "merged_pair":
        assert after > 1.4 * before
    elif kind in ("edge_on",):
        assert after < 0.3 * before
    else:  # torn, folded, curled, fragment: part of the blade is gone
        assert 0.2 * before < after < 0.97 * before
    _, n = ndimage.label(out.raster, structure=np.ones((3, 3)))
    assert n >= 1


def test_reason_per_leaf_and_intact_agree():
    sheet = synth.generate_sheet(4, W, H, DPI, damage=0.6)
    reasons = {leaf["reason"] for leaf in sheet.leaves}
    assert reasons - {"intact"}, "some leaves should be damaged at 0.6"
    for leaf in sheet.leaves:
        assert leaf["intact"] == (leaf["reason"] == "intact")
    assert any(set(r.split("+")) & set(DAMAGE_KINDS) for r in reasons)


def test_no_damage_draws_nothing():
    a = synth.generate_sheet(4, W, H, DPI)
    b = synth.generate_sheet(4, W, H, DPI, damage=0.0)
    c = synth.generate_sheet(4, W, H, DPI, damage=0.5)
    assert np.array_equal(a.rgb, b.rgb) and a.leaves == b.leaves
    assert not np.array_equal(a.mask, c.mask)
