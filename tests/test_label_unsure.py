"""Unsure background: the pixels a coarse whole-plant label calls paper next to the plant that
are not paper-coloured (petals, roots it left out) are found; shaded paper and far objects are
not; training leaves them out of the loss, and every transform moves them with the mask."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from herbseg.io.images import write_mask, write_rgb
from herbseg.measurement.label_unsure import UnsureSettings, unsure_background
from herbseg.model.data import UNSURE, FrameDataset, build_augmentation
from herbseg.model.fit import loss_fn_for


def sheet() -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Paper lit unevenly (a grey falloff to the left), a labelled green leaf, an unlabelled
    pale-yellow flower beside it, and an unlabelled dark label block far from both."""
    h, w = 160, 200
    yy, xx = np.mgrid[:h, :w]
    shade = (60 * (1 - xx / w))[..., None]  # 60 grey levels darker at the left edge
    rgb = np.clip(np.full((h, w, 3), (246, 244, 238), float) - shade, 0, 255)
    leaf = ((yy - 80) / 30) ** 2 + ((xx - 60) / 16) ** 2 <= 1
    flower = ((yy - 80) ** 2 + (xx - 88) ** 2) <= 6**2
    block = (yy > 130) & (xx > 160)
    rgb[leaf] = (60, 100, 40)
    rgb[flower] = (236, 214, 120)
    rgb[block] = (40, 40, 40)
    return rgb.astype(np.uint8), leaf, {"flower": flower, "block": block}


def test_unlabelled_petals_next_to_the_plant_are_unsure_and_shaded_paper_is_not():
    rgb, leaf, parts = sheet()
    unsure = unsure_background(rgb, leaf, UnsureSettings(band=40, cell=16))
    assert unsure[parts["flower"]].mean() > 0.95
    assert not unsure[leaf].any()  # the label's plant stays plant
    assert not unsure[parts["block"]].any()  # far from the plant: the label is trusted
    paper = ~leaf & ~parts["flower"] & ~parts["block"]
    assert unsure[paper].mean() < 0.01  # the falloff is learned per cell, not read as plant


def test_unsure_is_empty_when_off_without_a_plant_or_without_paper():
    rgb, leaf, _ = sheet()
    assert not unsure_background(rgb, leaf, UnsureSettings(band=0)).any()
    assert not unsure_background(rgb, np.zeros_like(leaf), UnsureSettings(band=40)).any()
    assert not unsure_background(rgb, np.ones_like(leaf), UnsureSettings(band=40)).any()
    with pytest.raises(ValueError, match="differ in size"):
        unsure_background(rgb, leaf[:-1], UnsureSettings(band=40))
    for bad in ({"band": -1}, {"min_delta_e": 0}, {"cell": 2}):
        with pytest.raises(ValueError, match="unsure"):
            UnsureSettings(**bad)


def test_loss_ignores_unsure_pixels_and_is_unchanged_without_them():
    target = torch.zeros(1, 1, 16, 16)
    target[0, 0, 4:12, 4:12] = 1
    logits = torch.where(target > 0, 3.0, -3.0).requires_grad_()
    plain = loss_fn_for("bce_dice", 5.0)(logits, target)
    doubtful = target.clone()
    doubtful[0, 0, 0:3, 0:16] = UNSURE
    wrong = logits.detach().clone()
    wrong[0, 0, 0:3, 0:16] = 8.0  # confidently "plant" where the label is unsure
    wrong.requires_grad_()
    loss = loss_fn_for("bce_dice", 5.0)(wrong, doubtful)
    loss.backward()
    assert torch.all(wrong.grad[0, 0, 0:3] == 0)  # no push either way there
    assert wrong.grad[0, 0, 3:].abs().sum() > 0
    # the same logits against a label that calls those pixels paper cost far more
    assert loss_fn_for("bce_dice", 5.0)(wrong.detach(), target) > 2 * loss.detach()
    assert plain < loss_fn_for("bce_dice", 5.0)(wrong.detach(), target)


def test_dataset_marks_unsure_pixels_and_flips_them_with_the_mask(tmp_path):
    rgb, leaf, parts = sheet()
    write_rgb(tmp_path / "f.png", rgb)
    write_mask(tmp_path / "m.png", leaf)
    write_mask(tmp_path / "u.png", parts["flower"] | leaf)  # overlap with the label: plant wins
    ds = FrameDataset([tmp_path / "f.png"], [tmp_path / "m.png"], unsure_paths=[tmp_path / "u.png"])
    _, y = ds[0]
    assert torch.equal(y[0] == UNSURE, torch.from_numpy(parts["flower"]))
    assert torch.equal(y[0] == 1, torch.from_numpy(leaf))
    flipped = FrameDataset(
        [tmp_path / "f.png"],
        [tmp_path / "m.png"],
        build_augmentation({"hflip": 1.0}),
        unsure_paths=[tmp_path / "u.png"],
    )
    _, yf = flipped[(0, 3)]
    assert torch.equal(yf[0] == UNSURE, torch.from_numpy(parts["flower"][:, ::-1].copy()))
    assert torch.equal(yf[0] == 1, torch.from_numpy(leaf[:, ::-1].copy()))
    with pytest.raises(ValueError, match="unsure masks"):
        FrameDataset([tmp_path / "f.png"], [tmp_path / "m.png"], unsure_paths=[])
