"""Tiled prediction: tiles cover the sheet, blending is seamless, and a thin stem that a single
frame loses survives at the higher resolution."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from PIL import Image

from herbseg.io.images import read_mask
from herbseg.model.tiles import (
    TileSettings,
    predict_tiled_shard,
    starts,
    tiled_proba,
    window,
    with_thin_parts,
)


class DarkIsPlant(torch.nn.Module):
    """A fixed pixelwise network: logit grows as a pixel darkens (a colour threshold).

    Real torch ops, no training: what the tiler must preserve is position, not learning.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # input normalised with ImageNet statistics; undo roughly and threshold the mean
        return (0.0 - x.mean(1, keepdim=True)) * 20.0


def test_tile_starts_cover_every_pixel_with_overlap():
    for n in (100, 512, 513, 1000, 2048, 3001):
        s = starts(n, 512, 0.25)
        covered = np.zeros(n, bool)
        for a in s:
            covered[a : a + 512] = True
        assert covered.all() and s[0] == 0 and s[-1] == max(0, n - 512)
        if len(s) > 1:
            assert max(np.diff(s)) <= 384
    w = window(64)
    assert w.min() > 0 and w[32, 32] > 0.9 > w[0, 0]


def test_blending_is_seamless_and_matches_one_pass():
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 255, (300, 700, 3), dtype=np.uint8)
    model = DarkIsPlant()
    whole = tiled_proba(model, rgb, torch.device("cpu"), TileSettings(True, "replace", 0, 1024))
    tiled = tiled_proba(model, rgb, torch.device("cpu"), TileSettings(True, "replace", 0, 128))
    assert tiled.shape == (300, 700)
    # a pixelwise network gives the same answer however the sheet is cut: no seams
    assert np.abs(whole - tiled).max() < 1e-4


def test_thin_stem_survives_tiles_but_not_one_small_frame(tmp_path):
    """A 3-px stem on a 1500×2200 sheet: seen through one 256 frame it averages into the paper;
    through 256 tiles at long side 2200 it is found along its whole length."""
    h, w = 2200, 1500
    rgb = np.full((h, w, 3), 235, np.uint8)
    rgb[200:2000, 700:703] = 40
    sheet = tmp_path / "s.png"
    Image.fromarray(rgb).save(sheet)
    rows = pd.DataFrame([{"sheet_id": "s", "path": str(sheet), "width": w, "height": h,
                          "status": "ok"}])  # fmt: skip
    model = DarkIsPlant()
    for long_side, name in ((256, "frame"), (2200, "tiles")):
        table = predict_tiled_shard(model, rows, tmp_path / name,
                                    TileSettings(True, "replace", long_side, 256),
                                    device=torch.device("cpu"), log=lambda m: None)  # fmt: skip
        assert list(table["status"]) == ["ok"]
        mask = read_mask(table.loc[0, "mask_path"])
        assert mask.shape == (h, w)
        recall = mask[200:2000, 700:703].mean()
        if name == "frame":
            assert recall < 0.05
        else:
            assert recall > 0.95 and mask.sum() < 3 * 1800 * 1.5
    bad = rows.assign(path=str(tmp_path / "missing.png"))
    settings = TileSettings(True, "replace", 512, 256)
    table = predict_tiled_shard(model, bad, tmp_path / "bad", settings,
                                device=torch.device("cpu"), log=lambda m: None)  # fmt: skip
    assert table.loc[0, "status"] == "error" and "unreadable" in table.loc[0, "error"]


def test_thin_parts_from_tiles_join_the_plant_and_nothing_else_changes():
    """``mode: thin``: a stem the tiles see and the frame lost is added where it joins the plant;
    a stroke lying apart (a pen line, a ruler tick), a wide blob only the tiles see, speckle on a
    textured object, and a hole the tiles open in a leaf the frame saw whole are not taken from
    the tiles."""
    frame = np.zeros((400, 400), np.float32)
    frame[100:200, 100:200] = 0.9  # a leaf, seen whole
    frame[200:300, 149:152] = 0.2  # its stem, faint in the frame
    tiles = frame.copy()
    tiles[130:170, 130:170] = 0.1  # the tiles open a hole in the leaf
    tiles[200:380, 149:152] = 0.9  # and find the whole stem
    tiles[50:350, 300:302] = 0.9  # a stroke apart from the plant
    tiles[300:380, 200:280] = 0.9  # a wide blob only the tiles see
    yy, xx = np.mgrid[:400, :400]
    washer = (yy - 60) ** 2 + (xx - 150) ** 2 < 40**2  # a round steel washer touching the leaf
    speckle = np.random.default_rng(0).random((400, 400)) < 0.5  # its texture, half-believed
    tiles[washer] = np.where(speckle, 0.6, 0.3)[washer]
    frame[washer] = 0.3  # the frame half-believes it too
    out = with_thin_parts(frame, tiles, width=4, faint=0.05, threshold=0.5)
    mask = out >= 0.5
    assert not (mask & washer).any()  # speckle: every speck thin, but its faint trace is wide
    assert mask[200:380, 149:152].all()  # the stem, beyond where the frame saw it faintly
    assert mask[100:200, 100:200].all()  # the leaf kept whole
    assert not mask[50:350, 300:302].any() and not mask[300:380, 200:280].any()
    # with no faint trace to follow the stem still joins: it touches the leaf itself
    plain = frame.copy()
    plain[200:300, 149:152] = 0.0
    assert (with_thin_parts(plain, tiles, width=4, faint=0.0, threshold=0.5)[200:380, 149:152]
            >= 0.5).all()  # fmt: skip
    assert np.array_equal(with_thin_parts(frame, frame, width=4, faint=0.05, threshold=0.5), frame)


def test_predict_shard_with_tiles_adds_a_stem_one_frame_loses(tmp_path):
    """The workflow's path (``predict.tiles.mode: thin``): one 256 frame of a 1500×2200 sheet
    finds a leaf and loses its 3-px stem; with tiles at the sheet's size the stem is in the mask
    along its length, a pen stroke apart from the plant is not, and the leaf keeps the frame's
    pixels."""
    from herbseg.stages.predict import predict_shard
    from herbseg.stages.resize import resize_shard

    h, w = 2200, 1500
    rgb = np.full((h, w, 3), 235, np.uint8)
    rgb[300:800, 500:1000] = 40  # the leaf
    rgb[800:2000, 749:752] = 40  # its stem
    rgb[200:2000, 1300:1303] = 40  # a stroke apart
    sheet = tmp_path / "s.png"
    Image.fromarray(rgb).save(sheet)
    rows = pd.DataFrame([{"sheet_id": "s", "path": str(sheet), "width": w, "height": h,
                          "status": "ok"}])  # fmt: skip
    resized = resize_shard(rows, tmp_path / "frames", frame=256, threads=1)
    model = DarkIsPlant()
    masks = {}
    for name, tiles in (("frame", None), ("tiles", TileSettings(True, "thin", 2200, 256))):
        table = predict_shard(model, resized, tmp_path / name, device=torch.device("cpu"),
                              sheets=rows, tiles=tiles, log=lambda m: None)  # fmt: skip
        assert list(table["status"]) == ["ok"]
        masks[name] = read_mask(table.loc[0, "mask_path"])
    assert masks["frame"][900:2000, 749:752].mean() < 0.05
    assert masks["tiles"][810:2000, 749:752].mean() > 0.95
    assert masks["tiles"][200:2000, 1300:1303].sum() == 0
    # the leaf: nothing the frame had is lost, and nothing is added beyond the dark pixels (the
    # tiles sharpen the corners the frame rounds off: they are thin parts too)
    assert (masks["tiles"] >= masks["frame"]).all()
    dark = rgb[..., 0] == 40
    assert (masks["tiles"] & ~dark).sum() <= (masks["frame"] & ~dark).sum()
