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
    from herbseg.io.geometry import plan
    from herbseg.io.images import write_rgb
    from herbseg.model.network import build_model
    from herbseg.stages.predict import predict_shard

    rows = []
    for i in range(4):
        rgb = np.random.default_rng(i).integers(0, 255, (64, 64, 3), dtype=np.uint8)
        if i < 3:
            rgb = np.repeat(rgb[..., :1], 3, axis=-1)
        frame = tmp_path / "frames" / f"f{i}.png"
        write_rgb(frame, rgb)
        rows.append({"sheet_id": f"s{i}", "status": "ok", "error": "", "frame_path": str(frame),
                     **plan(64, 64, 64, "squash").as_row()})  # fmt: skip
    model = build_model("resnet18", None)
    for colour_only in (True, False):
        said: list[str] = []
        predict_shard(
            model, pd.DataFrame(rows), tmp_path / f"masks_{colour_only}",
            device=torch.device("cpu"), batch_size=2, colour_only=colour_only, log=said.append,
        )  # fmt: skip
        warned = [m for m in said if "greyscale" in m]
        assert bool(warned) == colour_only, said
        if colour_only:
            assert warned[0].startswith("warning: 3 of 4 sheets are greyscale")
            assert "train.augment.grey" in warned[0]
