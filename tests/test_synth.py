"""Synthetic sheets are the ground truth of every accuracy benchmark, so their truth must be exact.

Small sheets (400×600 px at 60 dpi: the same 169×254 mm as the default 2000×3000 at 300 dpi)
keep the whole file fast.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from skimage.measure import label, regionprops

from herbseg.io.images import read_mask
from herbseg.synth import sheets as synth

W, H, DPI = 400, 600, 60.0
PPM = DPI / 25.4
SEEDS = (0, 3, 11, 42)


@pytest.fixture(scope="module")
def sheets() -> dict[int, synth.SyntheticSheet]:
    return {s: synth.generate_sheet(s, W, H, DPI) for s in SEEDS}


def test_same_seed_gives_identical_sheet(sheets):
    again = synth.generate_sheet(SEEDS[0], W, H, DPI)
    first = sheets[SEEDS[0]]
    assert np.array_equal(again.rgb, first.rgb)
    assert np.array_equal(again.mask, first.mask)
    assert again.leaves == first.leaves


def test_different_seed_gives_different_sheet(sheets):
    a, b = sheets[SEEDS[0]], sheets[SEEDS[1]]
    assert not np.array_equal(a.rgb, b.rgb)
    assert not np.array_equal(a.mask, b.mask)


def test_index_selects_a_different_stream():
    a = synth.generate_sheet(5, W, H, DPI, index=0)
    b = synth.generate_sheet(5, W, H, DPI, index=1)
    assert not np.array_equal(a.mask, b.mask)


@pytest.mark.parametrize("seed", SEEDS)
def test_arrays_have_the_promised_form(sheets, seed):
    sheet = sheets[seed]
    assert sheet.rgb.shape == (H, W, 3) and sheet.rgb.dtype == np.uint8
    assert sheet.mask.shape == (H, W) and sheet.mask.dtype == bool
    assert sheet.px_per_mm == pytest.approx(PPM)
    assert 0 < sheet.mask.sum() < 0.5 * sheet.mask.size
    json.dumps(sheet.truth)  # the workflow may store it as JSON
    json.dumps(sheet.leaves)


@pytest.mark.parametrize("seed", SEEDS)
def test_clutter_is_never_leaf(sheets, seed):
    sheet = sheets[seed]
    clutter = sheet.truth["clutter"]
    boxes = [clutter["ruler"]["box"]] if clutter["ruler"] else []
    boxes += [clutter[k] for k in ("chart", "label", "barcode", "packet", "slip") if clutter[k]]
    assert clutter["chart"] is not None and clutter["ruler"] is not None
    for x0, y0, x1, y1 in boxes:
        assert not sheet.mask[y0:y1, x0:x1].any()


@pytest.mark.parametrize("seed", SEEDS)
def test_areas_add_up_to_the_mask(sheets, seed):
    sheet = sheets[seed]
    px = int(sheet.mask.sum())
    assert sheet.truth["leaf_area_mm2"] == pytest.approx(px / PPM**2, rel=1e-12)
    assert sum(leaf["area_mm2"] for leaf in sheet.leaves) == pytest.approx(px / PPM**2)
    assert sheet.truth["n_leaves"] == len(sheet.leaves) > 0


@pytest.mark.parametrize("seed", SEEDS)
def test_per_leaf_truth_is_consistent(sheets, seed):
    sheet = sheets[seed]
    for leaf in sheet.leaves:
        assert leaf["shape"] in synth.SHAPES
        assert 0 <= leaf["area_mm2"] <= leaf["full_area_mm2"] + 1e-9
        assert leaf["length_mm"] >= leaf["width_mm"] > 0
        if leaf["intact"]:
            assert leaf["area_mm2"] == leaf["full_area_mm2"]
    assert sum(leaf["intact"] for leaf in sheet.leaves) >= 0.6 * len(sheet.leaves)


@pytest.mark.parametrize("seed", SEEDS)
def test_intact_leaves_are_separate_components(sheets, seed):
    """An intact leaf is a mask component on its own, exactly its full area, where it says."""
    sheet = sheets[seed]
    comps = regionprops(label(sheet.mask, connectivity=2))
    for leaf in (lf for lf in sheet.leaves if lf["intact"]):
        px = round(leaf["full_area_mm2"] * PPM**2)
        match = [
            c for c in comps
            if c.area == px
            and abs(c.centroid[1] - leaf["centroid_x"]) < 0.5
            and abs(c.centroid[0] - leaf["centroid_y"]) < 0.5
        ]  # fmt: skip
        assert len(match) == 1


def test_leaf_size_is_a_caliper_measure(sheets):
    """The truth length is the Feret diameter; the raster's own one agrees to about a pixel."""
    sheet = sheets[SEEDS[0]]
    comps = regionprops(label(sheet.mask, connectivity=2))
    for leaf in (lf for lf in sheet.leaves if lf["intact"]):
        comp = min(comps, key=lambda c: abs(c.centroid[1] - leaf["centroid_x"])
                   + abs(c.centroid[0] - leaf["centroid_y"]))  # fmt: skip
        assert comp.feret_diameter_max / PPM == pytest.approx(leaf["length_mm"], abs=2.5 / PPM)


def test_ruler_ticks_are_spaced_at_px_per_mm():
    """Tick centres found in the rendered pixels fit a line of slope px_per_mm."""
    dpi = 150.0
    sheet = synth.generate_sheet(2, 1000, 1500, dpi)
    ruler = sheet.truth["clutter"]["ruler"]
    ppm = dpi / 25.4
    ticks = np.asarray(ruler["ticks_x"])
    assert np.diff(ticks).mean() == pytest.approx(ppm, rel=1e-9)
    x0, y0, x1, y1 = ruler["box"]
    row = y0 + 1 + round(ppm) if ruler["ticks_from"] == "top" else y1 - 2 - round(ppm)
    inner = slice(x0 + 2, x1 - 2)  # skip the band's grey outline
    profile = sheet.rgb[row, inner].astype(float).mean(axis=1)
    darkness = np.clip(np.median(profile) - profile, 0, None)
    edges = np.diff(np.r_[0, (darkness > 0.35 * darkness.max()).astype(int), 0])
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    centres = [
        x0 + 2 + np.average(np.arange(a, b), weights=darkness[a:b])
        for a, b in zip(starts, ends, strict=True)
    ]
    assert len(centres) == len(ticks)
    slope, intercept = np.polyfit(np.arange(len(centres)), centres, 1)
    assert slope == pytest.approx(ppm, rel=2e-3)
    assert intercept == pytest.approx(ticks[0], abs=0.6)


def test_collection_writes_every_file(tmp_path: Path):
    truth = synth.generate_collection(tmp_path, 2, seed=9, width=W, height=H, dpi=DPI)
    assert list(truth.columns) == ["sheet_id", "px_per_mm", "leaf_area_mm2", "n_leaves"]
    assert list(truth["sheet_id"]) == ["synth_0000", "synth_0001"]
    on_disk = pd.read_csv(tmp_path / "truth.csv")
    assert list(on_disk.columns) == list(truth.columns)
    leaves = pd.read_csv(tmp_path / "truth_leaves.csv")
    assert list(leaves.columns) == list(synth.LEAF_COLUMNS)
    for row in on_disk.itertuples():
        jpg = tmp_path / "sheets" / f"{row.sheet_id}.jpg"
        with Image.open(jpg) as im:
            assert im.format == "JPEG" and im.size == (W, H)
            assert tuple(round(v) for v in im.info["dpi"]) == (60, 60)
        mask = read_mask(tmp_path / "masks" / f"{row.sheet_id}.png")
        assert mask.shape == (H, W)
        assert row.leaf_area_mm2 == pytest.approx(mask.sum() / row.px_per_mm**2, rel=1e-12)
        ours = leaves[leaves["sheet_id"] == row.sheet_id]
        assert row.n_leaves == len(ours)
        assert ours["area_mm2"].sum() == pytest.approx(row.leaf_area_mm2)
    index1 = synth.generate_sheet(9, W, H, DPI, index=1)
    assert np.array_equal(read_mask(tmp_path / "masks" / "synth_0001.png"), index1.mask)


def test_collection_bytes_do_not_depend_on_workers(tmp_path: Path):
    a, b = tmp_path / "a", tmp_path / "b"
    synth.generate_collection(a, 2, seed=4, width=W, height=H, dpi=DPI, workers=1)
    synth.generate_collection(b, 2, seed=4, width=W, height=H, dpi=DPI, workers=2)
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert len(files) == 6
    for rel in files:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel


def test_module_stays_free_of_heavy_imports():
    code = (
        "import sys, herbseg.synth.sheets; "
        "print('torch' in sys.modules, 'snakemake' in sys.modules)"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(synth.__file__).parents[2])}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert out.stdout.split() == ["False", "False"]
