"""Sheets scanned in grey levels: found by their pixels, and a model that saw colour frames only
says so when it is given them (a sixth of the plant is missed there; BENCHMARKS.md, "Greyscale
scans")."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import torch
from PIL import Image, ImageDraw

from herbseg.measurement.colour import is_greyscale
from herbseg.model.card import trained_on_grey


def sheet(grey: bool) -> np.ndarray:
    """A near-white sheet with one small green leaf (half a per cent of it), saved as JPEG."""
    im = Image.new("RGB", (600, 900), (243, 242, 240))
    ImageDraw.Draw(im).ellipse((280, 420, 330, 470), fill=(70, 110, 45))
    if grey:
        im = im.convert("L").convert("RGB")
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=85)
    return np.asarray(Image.open(buf).convert("RGB"))


def test_a_grey_scan_is_told_from_a_colour_sheet_with_a_small_leaf():
    assert is_greyscale(sheet(grey=True))
    assert not is_greyscale(sheet(grey=False))


def test_the_card_says_whether_the_model_saw_grey_frames():
    assert trained_on_grey({"config": {"augment": {"grey": 0.2}}})
    assert not trained_on_grey({"config": {"augment": {"grey": 0, "hue": 20}}})
    assert not trained_on_grey({})  # a card from before the key: colour only


def test_predict_warns_when_a_colour_only_model_gets_grey_sheets(tmp_path):
    """Once per job, with the count, whichever way the sheets are predicted: one frame each, or
    tiles alone (``predict.tiles.mode: replace``, which never reads the frames); never for a
    model whose card says it saw grey frames."""
    from herbseg.io.geometry import plan
    from herbseg.io.images import write_rgb
    from herbseg.model.network import build_model
    from herbseg.model.tiles import TileSettings
    from herbseg.stages.predict import PredictSettings, predict_masks

    frames, sheets = [], []
    for i in range(4):
        rgb = np.random.default_rng(i).integers(0, 255, (64, 64, 3), dtype=np.uint8)
        if i < 3:
            rgb = np.repeat(rgb[..., :1], 3, axis=-1)
        frame, path = tmp_path / "frames" / f"f{i}.png", tmp_path / "sheets" / f"s{i}.png"
        write_rgb(frame, rgb)
        write_rgb(path, rgb)
        frames.append({"sheet_id": f"s{i}", "status": "ok", "error": "", "frame_path": str(frame),
                       **plan(64, 64, 64, "squash").as_row()})  # fmt: skip
        sheets.append({"sheet_id": f"s{i}", "status": "ok", "path": str(path), "width": 64,
                       "height": 64})  # fmt: skip
    model = build_model("resnet18", None)
    tiles = TileSettings(enabled=True, mode="replace", long_side=64, tile=64)
    for how, settings in (("frames", PredictSettings(batch_size=2)),
                          ("tiles", PredictSettings(batch_size=2, tiles=tiles))):  # fmt: skip
        for grey_seen in (0.0, 0.2):
            said: list[str] = []
            card = {"mask_class": "plant", "config": {"augment": {"grey": grey_seen}}}
            table = predict_masks(
                model, pd.DataFrame(frames), pd.DataFrame(sheets),
                tmp_path / f"masks_{how}_{grey_seen}", settings, card,
                device=torch.device("cpu"), threads=1, max_megapixels=10.0, log=said.append,
            )  # fmt: skip
            assert list(table["status"]) == ["ok"] * 4
            warned = [m for m in said if "greyscale" in m]
            assert len(warned) == (grey_seen == 0), (how, said)
            if warned:
                assert warned[0].startswith("warning: 3 of 4 sheets are greyscale")
                assert "train.augment.grey" in warned[0]
