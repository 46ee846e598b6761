"""Label refinement: a coarse, shifted annotation comes back closer to the plant it marks; thin
stems inside it are kept; the original file is untouched and every mask has a provenance row."""

from __future__ import annotations

import numpy as np
import pandas as pd
from PIL import Image
from scipy import ndimage as ndi

from herbseg.io.images import read_mask, write_mask
from herbseg.measurement.label_refine import LabelRefineSettings, grabcut_refine, refine_labels


def sheet() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    h, w = 400, 300
    rgb = np.full((h, w, 3), (236, 229, 210), np.float32)
    yy, xx = np.mgrid[:h, :w]
    truth = ((yy - 150) / 60) ** 2 + ((xx - 140) / 35) ** 2 <= 1
    truth |= (abs(xx - 140 - (yy - 200) * 0.1) <= 2) & (yy >= 200) & (yy < 360)
    rgb[truth] = (72, 110, 48)
    rgb += rng.normal(0, 4, rgb.shape)
    return rgb.clip(0, 255).astype(np.uint8), truth


def iou(a, b):
    return (a & b).sum() / (a | b).sum()


def test_grabcut_snaps_a_coarse_shifted_mask_and_keeps_the_stem():
    rgb, truth = sheet()
    coarse = np.roll(ndi.binary_dilation(truth, iterations=5), (3, -3), axis=(0, 1))
    refined = grabcut_refine(rgb, coarse, LabelRefineSettings(band=0.03, long_side=400))
    assert iou(refined, truth) > iou(coarse, truth) + 0.1
    assert iou(refined, truth) > 0.85
    stem = truth & (np.mgrid[:400, :300][0] > 230)
    assert refined[stem].mean() > 0.8


def test_refine_labels_writes_new_masks_with_provenance(tmp_path):
    rgb, truth = sheet()
    Image.fromarray(rgb).save(tmp_path / "s.png")
    write_mask(tmp_path / "s_mask.png", ndi.binary_dilation(truth, iterations=4))
    original = (tmp_path / "s_mask.png").read_bytes()
    rows = pd.DataFrame({"sheet_id": ["s", "gone"],
                         "path": [str(tmp_path / "s.png"), str(tmp_path / "none.png")],
                         "mask_path": [str(tmp_path / "s_mask.png")] * 2})  # fmt: skip
    prov = refine_labels(rows, tmp_path / "refined", LabelRefineSettings(band=0.03))
    assert list(prov["status"]) == ["ok", "error"]
    assert (tmp_path / "s_mask.png").read_bytes() == original
    refined = read_mask(prov.loc[0, "refined_mask"])
    assert refined.shape == truth.shape and prov.loc[0, "removed_px"] > 0
    assert prov.loc[0, "method"] == "grabcut" and prov.loc[0, "source_mask"].endswith("s_mask.png")
