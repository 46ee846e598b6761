"""Pictures glued to a sheet (herbseg.measurement.glued_pictures) and predict's use of them: what
a network marks inside a field photograph is left out; the plant, a leaf beside the photograph,
a part reaching into it, a plain card and a white label are not touched."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage as ndi

from herbseg.io.images import read_mask
from herbseg.measurement.glued_pictures import drop_pictures, find_pictures
from herbseg.measurement.refine import RefineSettings
from herbseg.measurement.small_sheet import small_sheet
from herbseg.model.masks import write_prediction

W, H = 400, 600
PHOTO = (20, 20, 160, 125)  # x0, y0, x1, y1


def glued_sheet(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cream paper with a plant, a field photograph of leaf litter and leaves (top left), a plain
    kraft card and a white label with text. Returns the RGB sheet, the plant and the photograph's
    leaves (what a network marks in it)."""
    rng = np.random.default_rng(seed)
    im = Image.new("RGB", (W, H), (236, 229, 208))
    d = ImageDraw.Draw(im)
    plant = Image.new("L", (W, H), 0)
    p = ImageDraw.Draw(plant)
    for box in ([150, 250, 230, 300], [220, 320, 300, 370], [130, 380, 210, 430]):
        d.ellipse(box, fill=(70, 115, 45))
        p.ellipse(box, fill=255)
    d.ellipse([175, 100, 235, 150], fill=(70, 115, 45))  # a leaf beside the photograph
    p.ellipse([175, 100, 235, 150], fill=255)
    d.line([210, 300, 215, 520], fill=(110, 85, 45), width=4)
    p.line([210, 300, 215, 520], fill=255, width=4)
    d.rectangle([250, 470, 370, 560], fill=(190, 160, 120))  # a plain kraft card
    d.rectangle([30, 480, 200, 570], fill=(252, 252, 250))  # a white label
    for y in range(490, 565, 8):
        d.line([38, y, 190, y], fill=(30, 30, 30), width=2)
    rgb = np.asarray(im).astype(np.float32)
    x0, y0, x1, y1 = PHOTO
    field = ndi.gaussian_filter(rng.normal(size=(y1 - y0, x1 - x0)), 4)
    field /= field.std()
    leaves = field > 0.5
    litter = np.stack([120 + 70 * field, 90 + 55 * field, 60 + 40 * field], -1)  # brown, shaded
    photo = np.where(leaves[..., None], np.array([40, 110, 40], np.float32), litter)
    rgb[y0:y1, x0:x1] = photo
    rgb += rng.normal(0, 3, rgb.shape)
    marked = np.zeros((H, W), bool)
    marked[y0:y1, x0:x1] = leaves
    return rgb.clip(0, 255).astype(np.uint8), np.asarray(plant) > 0, marked


def predicted(tmp_path, prob: np.ndarray, rgb: np.ndarray, settings: RefineSettings) -> np.ndarray:
    row, _ = write_prediction(
        prob, "s", tmp_path, (W, H), threshold=0.5, band=2, refine=settings, sheet_rgb=lambda: rgb
    )
    return read_mask(row["mask_path"])


def test_the_photograph_is_found_and_nothing_else():
    rgb, _, _ = glued_sheet()
    boxes = find_pictures(small_sheet(rgb))
    assert len(boxes) == 1, boxes
    found = np.array(boxes[0])
    assert np.abs(found - np.array(PHOTO)).max() <= 6, (boxes, PHOTO)


def test_what_the_network_marks_in_the_photograph_is_left_out_and_the_plant_kept(tmp_path):
    rgb, plant, marked = glued_sheet()
    prob = np.where(plant | marked, 0.95, 0.02).astype(np.float32)
    kept = predicted(tmp_path / "off", prob, rgb, RefineSettings(drop_pictures=False))
    assert kept[marked].mean() > 0.8  # the premise: refinement alone keeps it (not paper)
    mask = predicted(tmp_path / "on", prob, rgb, RefineSettings())
    assert mask[marked].mean() < 0.02
    assert np.array_equal(mask[plant], kept[plant])  # the plant, the leaf beside it included
    x0, y0, x1, y1 = PHOTO
    outside = np.ones_like(plant)
    outside[y0:y1, x0:x1] = False
    assert np.array_equal(mask & outside, kept & outside)  # nothing beyond it changes


def test_only_parts_lying_mostly_inside_a_picture_are_left_out():
    rgb, plant, _ = glued_sheet()
    x0, y0, x1, y1 = PHOTO
    mask = plant.copy()
    mask[y0 + 10 : y0 + 40, x0 + 10 : x0 + 60] = True  # all inside: left out
    mask[y1 - 20 : y1 + 60, x0 + 20 : x0 + 50] = True  # a quarter inside: kept whole
    assert len(find_pictures(small_sheet(rgb))) == 1
    kept = drop_pictures(mask, small_sheet(rgb))
    assert not kept[y0 + 10 : y0 + 40, x0 + 10 : x0 + 60].any()
    assert kept[y1 - 20 : y1 + 60, x0 + 20 : x0 + 50].all()
    assert np.array_equal(kept & plant, plant)


def test_a_sheet_without_a_picture_is_left_as_it_is(tmp_path):
    rgb, plant, _ = glued_sheet()
    x0, y0, x1, y1 = PHOTO
    rgb = rgb.copy()
    rgb[y0:y1, x0:x1] = (236, 229, 208)  # no photograph glued
    assert find_pictures(small_sheet(rgb)) == []
    big_leaf = np.full((H, W, 3), (236, 229, 208), np.uint8)  # a leaf filling a third of it
    yy, xx = np.mgrid[:H, :W]
    leaf = ((yy - 300) / 200) ** 2 + ((xx - 200) / 120) ** 2 <= 1
    big_leaf[leaf] = (70, 115, 45)
    big_leaf = (big_leaf + np.random.default_rng(1).normal(0, 12, big_leaf.shape)).clip(0, 255)
    assert find_pictures(small_sheet(big_leaf.astype(np.uint8))) == []


def test_the_violaceae_field_photographs_are_found_and_no_leafmachine2_sheet_has_one(shared_data):
    """V02_06_020's photograph (top right; a CV fold model marked its plants) is found; the 12
    LeafMachine2 sheets, whose leaves cover up to half the paper, have none."""
    sheet = shared_data / "violaceae" / "images" / "V02" / "V02_06_020.jpg"
    rgb = np.asarray(Image.open(sheet).convert("RGB"))
    boxes = find_pictures(small_sheet(rgb))
    assert len(boxes) == 1, boxes
    x0, y0, x1, y1 = boxes[0]
    h, w = rgb.shape[:2]
    assert x0 > w / 3 and y1 < h / 3  # the top-right corner
    lm2 = sorted((shared_data / "leafmachine2_demo").rglob("*.jpg"))
    assert len(lm2) == 12
    for path in lm2:
        rgb = np.asarray(Image.open(path).convert("RGB"))
        assert find_pictures(small_sheet(rgb)) == [], path.name
