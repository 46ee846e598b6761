"""The sheet within its image (herbseg.measurement.sheet_region) and predict's use of it: what a
network marks on the table or scanner lid around a photographed sheet is cleared."""

from __future__ import annotations

import numpy as np
from PIL import Image

from herbseg.io.images import read_mask
from herbseg.measurement.refine import RefineSettings
from herbseg.measurement.sheet_region import sheet_region
from herbseg.model.masks import write_prediction
from tests.helpers import DRAWN_H, DRAWN_W, drawn_sheet


def predicted(tmp_path, prob: np.ndarray, rgb: np.ndarray, settings: RefineSettings) -> np.ndarray:
    row, _ = write_prediction(
        prob, "s", tmp_path, (DRAWN_W, DRAWN_H), threshold=0.5, band=2, refine=settings,
        sheet_rgb=lambda: rgb,
    )  # fmt: skip
    return read_mask(row["mask_path"])


def test_the_table_around_a_photographed_sheet_is_cleared(tmp_path):
    rgb, plant = drawn_sheet()  # the paper spans x 20..W-20, y 15..H-15 on a dark table
    table = np.zeros_like(plant)
    table[:, 4:16] = True  # a strip of the table the network half-marks, as on LeafMachine2
    table[:10, 60:200] = True
    prob = np.where(plant, 0.95, np.where(table, 0.8, 0.02)).astype(np.float32)
    kept = predicted(tmp_path / "off", prob, rgb, RefineSettings(sheet_only=False))
    assert kept[table].mean() > 0.9  # the premise: refinement alone keeps it (dark, not paper)
    mask = predicted(tmp_path / "on", prob, rgb, RefineSettings())
    assert not mask[table].any()
    assert mask[plant].mean() > 0.97
    assert np.array_equal(mask & ~table, kept & ~table)  # nothing on the sheet changes


def test_a_scan_of_the_paper_alone_is_left_as_it_is():
    rgb, _ = drawn_sheet()
    paper = rgb[15:-15, 20:-20]  # no table in view
    assert sheet_region(paper) is None


def test_a_leaf_reaching_the_paper_edge_keeps_it():
    rgb, _ = drawn_sheet()
    big = np.asarray(Image.fromarray(rgb).resize((DRAWN_W * 4, DRAWN_H * 4)))  # a 4x larger scan
    region = sheet_region(big)
    assert region is not None and region.shape == big.shape[:2]
    assert region[60:-60, 80:-80].mean() > 0.9999  # the paper (its corners rounded by a pixel)
    edges = region[100:-100, 80], region[100:-100, -81], region[60, 100:-100], region[-61, 100:-100]
    assert all(edge.all() for edge in edges)  # to its very edge
    assert not region[:, :40].any() and not region[:20].any()  # the table


def test_a_leaf_across_the_whole_sheet_keeps_both_halves():
    """A dark blade from one edge of the paper to the other cuts the paper in two; the sheet is
    both halves and the blade, not the hull of the larger half."""
    rgb, _ = drawn_sheet()
    rgb = rgb.copy()
    rgb[160:230, 18:-18] = (60, 90, 40)  # the blade, edge to edge across the paper
    region = sheet_region(rgb)
    assert region is not None
    assert region[30:-30, 30:-30].all()
    assert not region[:, :10].any()  # the table is still cleared


def test_the_edge_is_placed_on_the_masks_grid_not_the_small_pictures():
    """The hull is found on a 256-px picture; on a 4x larger scan one pixel of it is six of the
    mask's, and the coarse hull (grown to keep the paper's edge) reached onto the table, where a
    half-marked strip then became a "leaf" (LeafMachine2). The edge now lies within a pixel or
    two of the paper's, and a bright speck of dust on the table does not pull it out."""
    rgb, _ = drawn_sheet()
    big = np.asarray(Image.fromarray(rgb).resize((DRAWN_W * 4, DRAWN_H * 4))).copy()
    left = 80  # the paper's left edge on the big scan (x 20 on the drawn sheet)
    big[300:302, left - 6 : left - 4] = 255  # dust on the table, 4-6 px from the paper
    region = sheet_region(big)
    assert region is not None
    assert region[100:-100, left].all()  # the paper to its very edge
    assert not region[100:-100, : left - 3].any()  # nothing 3 px or more onto the table
    assert not region[296:306, left - 8 : left - 2].any()  # not drawn out to the speck


def test_a_large_scan_places_its_edge_on_every_kth_pixel(monkeypatch):
    """Above ``EDGE_LONG_SIDE`` the edge is read at every k-th pixel (bounded time and memory on
    a 7500-px scan): still within about k pixels of the paper, on the mask's full grid."""
    from herbseg.measurement import sheet_region as module

    monkeypatch.setattr(module, "EDGE_LONG_SIDE", 800)  # k = 2 on the 1600-px scan
    rgb, _ = drawn_sheet()
    big = np.asarray(Image.fromarray(rgb).resize((DRAWN_W * 4, DRAWN_H * 4)))
    left = 80
    region = module.sheet_region(big)
    assert region is not None and region.shape == big.shape[:2]
    assert region[100:-100, left].all() and region[100:-100, left + 1 : -left - 1].all()
    assert not region[100:-100, : left - 5].any()
