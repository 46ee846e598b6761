"""Scale cards on a sheet (herbseg.measurement.scale_cards) and predict's use of them: what a
network marks on a card (its sticker, disc, checker and a colour patch) is cleared; the plant, the
part of a leaf lying over the card included, a dark grey leaf and a dark brown twig are not."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from herbseg.io.images import read_mask
from herbseg.measurement.refine import RefineSettings
from herbseg.measurement.scale_cards import drop_cards, find_cards
from herbseg.measurement.small_sheet import small_sheet
from herbseg.model.masks import write_prediction

W, H = 400, 600
PAPER = (236, 229, 208)
CARD = (330, 150, 378, 450)  # x0, y0, x1, y1: a black card standing near the sheet's edge


def card_sheet(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cream paper with a plant, a dark grey leaf, a dark brown twig and a black scale card as
    the Korea National Arboretum's: a checker column whose white squares cut notches into its
    left side, colour patches, a white sticker and a grey disc. A green leaf lies over the card's
    top right corner; a dull olive leaf, as grey as the card, lies just above its top edge on the
    left, its stalk running down beside the card (as on V05_01_004). Returns the RGB sheet, the
    plant and what a network marks on the card."""
    rng = np.random.default_rng(seed)
    im = Image.new("RGB", (W, H), PAPER)
    d = ImageDraw.Draw(im)
    x0, y0, x1, y1 = CARD
    d.rectangle([x0, y0, x1 - 1, y1 - 1], fill=(28, 28, 30))
    for y in range(y0 + 60, y1 - 10, 20):
        d.rectangle([x0, y, x0 + 9, y + 9], fill=(240, 240, 240))  # checker, open to the side
    colours = [(200, 40, 40), (40, 150, 60), (40, 70, 200), (230, 200, 40)]
    for k, y in enumerate(range(y0 + 70, y1 - 20, 25)):
        d.rectangle([x1 - 16, y, x1 - 6, y + 14], fill=colours[k % 4])
    d.rectangle([x0 + 8, y0 + 6, x1 - 8, y0 + 18], fill=(235, 235, 235))  # the sticker
    d.ellipse([x0 + 10, y0 + 24, x1 - 10, y0 + 52], fill=(70, 70, 72))  # the disc
    plant = Image.new("L", (W, H), 0)
    p = ImageDraw.Draw(plant)
    leaves = ([120, 200, 220, 270], [150, 330, 250, 400], [360, 140, 400, 190])
    for box in leaves:  # the last lies over the card's corner
        d.ellipse(box, fill=(70, 115, 45))
        p.ellipse(box, fill=255)
    d.ellipse([316, 124, 348, 147], fill=(100, 98, 80))  # a dull olive leaf above the card
    p.ellipse([316, 124, 348, 147], fill=255)
    d.line([320, 145, 318, 320], fill=(100, 98, 80), width=4)  # its stalk, beside the card
    p.line([320, 145, 318, 320], fill=255, width=4)
    d.line([180, 260, 190, 540], fill=(110, 85, 45), width=4)
    p.line([180, 260, 190, 540], fill=255, width=4)
    d.ellipse([40, 420, 130, 480], fill=(60, 60, 58))  # a blackened leaf
    p.ellipse([40, 420, 130, 480], fill=255)
    d.rectangle([40, 60, 52, 200], fill=(75, 50, 25))  # a straight dark brown twig
    p.rectangle([40, 60, 52, 200], fill=255)
    rgb = np.asarray(im).astype(np.float32) + rng.normal(0, 3, (H, W, 3))
    marked = np.zeros((H, W), bool)
    marked[y0 + 6 : y0 + 19, x0 + 8 : x1 - 8] = True  # the sticker
    marked[y0 + 30 : y0 + 46, x0 + 16 : x0 + 30] = True  # part of the disc
    marked[y0 + 60 : y0 + 80, x0 : x0 + 10] = True  # a checker square and its neighbour
    marked[y0 + 70 : y0 + 85, x1 - 16 : x1 - 5] = True  # the red patch
    return (
        rgb.clip(0, 255).astype(np.uint8),
        np.asarray(plant) > 0,
        marked & ~(np.asarray(plant) > 0),
    )


def outside_card() -> np.ndarray:
    keep = np.ones((H, W), bool)
    x0, y0, x1, y1 = CARD
    keep[y0 - 2 : y1 + 2, x0 - 2 : x1 + 2] = False
    return keep


def test_the_card_is_found_and_no_leaf_or_twig():
    rgb, _, _ = card_sheet()
    boxes = find_cards(small_sheet(rgb))
    assert len(boxes) == 1, boxes
    assert np.abs(np.array(boxes[0]) - np.array(CARD)).max() <= 4, (boxes, CARD)


def test_what_is_marked_on_the_card_is_cleared_and_the_plant_kept():
    rgb, plant, marked = card_sheet()
    mask = drop_cards(plant | marked, rgb, small_sheet(rgb))
    assert not mask[marked].any()
    # the green leaf over the card's corner and the olive one above it keep all of themselves
    assert np.array_equal(mask, plant)
    x0, y0, x1, y1 = CARD
    assert plant[y0 : y0 + 15, x1 - 15 : x1].sum() > 50  # the premise: it reaches over the card


def test_predict_clears_the_card_and_only_the_card(tmp_path):
    rgb, plant, marked = card_sheet()
    prob = np.where(plant | marked, 0.95, 0.02).astype(np.float32)

    def predicted(out, settings: RefineSettings) -> np.ndarray:
        row, _ = write_prediction(
            prob, "s", out, (W, H), threshold=0.5, band=2, refine=settings, sheet_rgb=lambda: rgb
        )
        return read_mask(row["mask_path"])

    kept = predicted(tmp_path / "off", RefineSettings(drop_cards=False))
    assert kept[marked].mean() > 0.5  # the premise: refinement alone keeps most (not paper)
    mask = predicted(tmp_path / "on", RefineSettings())
    assert mask[marked].mean() < 0.02
    assert np.array_equal(mask[plant], kept[plant])
    assert np.array_equal(mask & outside_card(), kept & outside_card())


def test_a_sheet_without_a_card_is_left_as_it_is():
    rgb, plant, _ = card_sheet()
    rgb = rgb.copy()
    x0, y0, x1, y1 = CARD
    rgb[y0:y1, x0:x1] = PAPER
    assert find_cards(small_sheet(rgb)) == []
    assert np.array_equal(drop_cards(plant, rgb, small_sheet(rgb)), plant)


def test_the_violaceae_scale_card_and_colour_bar_are_found(shared_data):
    """V05_01_004's black card (the checker strip the scale is read from lies in it), with a leaf
    just above it, and V25_02_009's colour bar along the top, whose ruler the network half-marks."""
    from herbseg.measurement.scale_detect import detect_scale

    sheet = shared_data / "violaceae" / "images" / "V05" / "V05_01_004.jpg"
    rgb = np.asarray(Image.open(sheet).convert("RGB"))
    scale = detect_scale(rgb)
    assert scale is not None and scale.kind == "checker"
    (sx0, sy0), (sx1, sy1) = scale.start, scale.end
    boxes = find_cards(small_sheet(rgb))
    cards = [
        (x0, y0, x1, y1)
        for x0, y0, x1, y1 in boxes
        if x0 <= min(sx0, sx1)
        and max(sx0, sx1) <= x1
        and y0 <= min(sy0, sy1) <= max(sy0, sy1) <= y1
    ]
    assert len(cards) == 1, (boxes, scale)
    # its top edge is at row ~283: a leaf lies just above it (rows 268-282), joined to the card
    # through a stem beside it, and must stay outside the box
    assert 278 <= cards[0][1] <= 290, cards
    h, w = rgb.shape[:2]
    for x0, y0, x1, y1 in boxes:  # the card and the table's edges, never the plant in the middle
        assert x1 - x0 < w / 4 or y1 - y0 < h / 4, boxes
    bar = shared_data / "violaceae" / "images" / "V25" / "V25_02_009.jpg"
    rgb = np.asarray(Image.open(bar).convert("RGB"))
    h, w = rgb.shape[:2]
    bars = find_cards(small_sheet(rgb))
    assert any(y0 <= 2 and y1 < h / 20 and x1 - x0 > w / 4 for x0, y0, x1, y1 in bars)
