"""Tiled prediction: tiles cover the sheet, blending is seamless, and a thin stem that a single
frame loses survives at the higher resolution."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from PIL import Image

from herbseg.io.images import read_mask
from herbseg.model.tiles import TileSettings, predict_tiled_shard, starts, tiled_proba, window


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
    whole = tiled_proba(model, rgb, torch.device("cpu"), TileSettings(True, 0, 1024, 0.25))
    tiled = tiled_proba(model, rgb, torch.device("cpu"), TileSettings(True, 0, 128, 0.25))
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
                                    TileSettings(True, long_side, 256, 0.25),
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
    table = predict_tiled_shard(model, bad, tmp_path / "bad", TileSettings(True, 512, 256, 0.25),
                                device=torch.device("cpu"), log=lambda m: None)  # fmt: skip
    assert table.loc[0, "status"] == "error" and "unreadable" in table.loc[0, "error"]
