"""The real-variation augmentations (hue, scale, paper tone, stains, table edges, grey levels,
JPEG): frames keep their size, masks stay binary, a frame of flat paper is toned, not blackened,
and a grey frame keeps its lightness."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from herbseg.model.augment import PaperTone, TableEdges, real_transforms
from herbseg.model.data import build_augmentation

ALL_ON = {"hue": 20, "paper_tone": 1.0, "stains": 1.0, "jpeg": 40, "scale": 0.2,
          "table_edges": 1.0, "grey": 1.0}  # fmt: skip


def frame() -> tuple[np.ndarray, np.ndarray]:
    img = np.full((96, 80, 3), 255, np.uint8)  # clipped white paper: most pixels alike
    mask = np.zeros((96, 80), np.uint8)
    mask[30:60, 20:50] = 1
    img[mask.astype(bool)] = (50, 90, 40)
    return img, mask


def test_paper_tone_moves_flat_white_paper_and_leaves_the_leaf():
    img, mask = frame()
    tone = PaperTone(p=1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the median of no pixels warned, then wrote NaN as 0
        out = tone.apply(img, target=np.array([230.0, 220.0, 190.0]))
    paper = out[~mask.astype(bool)].astype(int)
    assert np.abs(paper - (230, 220, 190)).max() <= 1, "the paper takes the other paper's tone"
    assert np.array_equal(out[mask.astype(bool)], img[mask.astype(bool)]), "dark leaf untouched"


@pytest.mark.parametrize("seed", range(6))
def test_all_real_transforms_keep_the_frame_size_and_a_binary_mask(seed):
    img, mask = frame()
    aug = build_augmentation({"rotate": 20, "hflip": 0.5, "vflip": 0.5, "brightness": 0.2,
                              **ALL_ON})  # fmt: skip
    aug.set_random_seed(seed)
    out = aug(image=img, mask=mask)
    assert out["image"].shape == img.shape and out["image"].dtype == np.uint8
    assert set(np.unique(out["mask"])) <= {0, 1}
    assert out["image"].mean() > 60, "a frame is never blackened"


def test_a_grey_frame_keeps_its_mask_and_lightness():
    img, mask = frame()
    (grey,) = real_transforms({"grey": 1.0})
    out = grey(image=img, mask=mask)
    assert out["image"].shape == img.shape
    assert (out["image"][..., 0] == out["image"][..., 2]).all(), "one grey level a pixel"
    assert abs(float(out["image"].mean()) - float(img.mean())) < 20
    assert np.array_equal(out["mask"], mask)


def test_table_edges_are_background_in_the_mask():
    img, mask = frame()
    mask[:] = 1  # plant everywhere: whatever the table covers must leave the mask
    out = TableEdges(p=1.0)(image=img, mask=mask)
    covered = out["mask"] == 0
    assert covered.any() and (out["image"][covered] != img[covered]).any(-1).all()


def test_real_transforms_are_off_by_default_and_probabilities_are_checked():
    assert real_transforms({}) == []
    assert len(real_transforms(ALL_ON)) == 7
    with pytest.raises(ValueError, match="paper_tone"):
        real_transforms({"paper_tone": 1.5})
