"""Whole-plant synthetic sheets: the plant class marks stems, roots and flowers, the leaf class
does not; sheets are reproducible; every plant kind and the real leaf colours occur."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import ndimage

from herbseg.io.images import read_mask
from herbseg.synth.plant import KINDS, generate_plant_collection, generate_plant_sheet


@pytest.mark.parametrize("kind", KINDS)
def test_plant_mask_holds_the_stems_and_the_leaf_mask_does_not(kind):
    plant = generate_plant_sheet(3, 300, 430, 70, index=1, kind=kind, mask_class="plant")
    leaf = generate_plant_sheet(3, 300, 430, 70, index=1, kind=kind, mask_class="leaf")
    assert np.array_equal(plant.rgb, leaf.rgb)  # the class changes the mask only
    assert plant.thin.sum() > 50, "every kind has stems, culms or roots"
    assert plant.mask[plant.thin].all() and not leaf.mask[plant.thin].any()
    assert leaf.mask.sum() <= plant.mask.sum()
    # thin structures are painted: not paper-coloured
    paper = np.median(plant.rgb[~plant.mask], axis=0)
    diff = np.abs(plant.rgb[plant.thin].astype(int) - paper).sum(-1)
    assert np.median(diff) > 40


def test_the_plant_seen_through_tape_and_stamp_ink_is_plant_and_labels_hide_it():
    """A person tracing a whole plant traces it through a tape strip or stamp ink; the leaf
    class leaves those pixels out (a taped leaf is not intact), and an opaque label hides the
    plant from both."""
    seen = 0
    for index in range(6):
        plant = generate_plant_sheet(3, 300, 430, 70, index=index, kind="herb")
        leaf = generate_plant_sheet(3, 300, 430, 70, index=index, kind="herb", mask_class="leaf")
        clutter = plant.truth["clutter"]
        veiled = np.zeros(plant.mask.shape, bool)
        for x0, y0, x1, y1 in clutter["tapes"] + [clutter["stamp"] or (0, 0, 0, 0)]:
            veiled[max(0, y0) : y1, max(0, x0) : x1] = True
        through = plant.mask & ~leaf.mask & ~plant.thin & ~plant.flowers
        assert not through[~veiled].any(), "only tape and ink are seen through"
        seen += int(through.sum())
        x0, y0, x1, y1 = clutter["label"]
        assert not plant.mask[max(0, y0) : y1, max(0, x0) : x1].any(), "a label hides the plant"
    assert seen > 1000, "these draws lay tape across leaves"


def test_collection_is_reproducible_and_spans_kinds_and_colours(tmp_path):
    a = generate_plant_collection(tmp_path / "a", 8, 11, 300, 440, 70, workers=1)
    b = generate_plant_collection(tmp_path / "b", 8, 11, 300, 440, 70, workers=2)
    pd.testing.assert_frame_equal(a, b)
    assert (tmp_path / "a" / "sheets" / "synth_0003.jpg").read_bytes() == (
        tmp_path / "b" / "sheets" / "synth_0003.jpg"
    ).read_bytes()
    assert read_mask(tmp_path / "a" / "masks" / "synth_0003.png").any()
    kinds = {generate_plant_sheet(11, 200, 300, 50, index=i).truth["kind"] for i in range(30)}
    assert kinds == set(KINDS)
    wiry = generate_plant_collection(tmp_path / "w", 3, 11, 300, 440, 70, kind="wiry")
    assert set(wiry["kind"]) == {"wiry"}


def test_leaf_colours_include_yellow_red_and_pale():
    """Across sheets, leaf pixels must reach hues the demo never paints (yellow, red) and pale
    tones near the paper's lightness."""
    hues = []
    for i in range(48):  # 13 colours: a pale one is all but certain among 48 plants
        s = generate_plant_sheet(5, 200, 280, 50, index=i, kind="herb", mask_class="leaf")
        if s.mask.sum() < 50:
            continue
        r, g, b = np.median(s.rgb[s.mask].astype(float), axis=0)
        hues.append((r, g, b))
    hues = np.array(hues)
    assert any(r > g + 40 for r, g, b in hues), "a red or orange plant"
    assert any(r > 160 and g > 140 and b < 110 for r, g, b in hues), "a yellow plant"
    assert any(min(r, g, b) > 110 and g > 140 for r, g, b in hues), "a pale plant"


def test_paperweights_cover_the_plant_and_leave_the_rest_of_the_sheet_as_it_was():
    """Paperweights (washers, coins, pens) are drawn with their own generator: the sheet without
    them is the sheet with them outside their boxes and shadows; what they cover leaves the
    mask, and the truth lists what was laid."""
    plain = generate_plant_sheet(7, 300, 430, 70, index=2, kind="herb")
    laid = generate_plant_sheet(7, 300, 430, 70, index=2, kind="herb", paperweights=1.0)
    weights = laid.truth["clutter"]["paperweights"]
    assert weights and {w["kind"] for w in weights} <= {"washer", "coin", "pen"}
    assert plain.truth["clutter"]["paperweights"] == []
    near = np.zeros(plain.mask.shape, bool)
    for w in weights:
        x0, y0, x1, y1 = w["box"]
        near[max(0, y0 - 15) : y1 + 15, max(0, x0 - 15) : x1 + 15] = True
    changed = (plain.rgb != laid.rgb).any(-1)
    assert changed.any() and not changed[~near].any()
    assert not (laid.mask & ~plain.mask).any(), "a paperweight is never plant"
    assert (plain.mask & ~laid.mask).sum() > 500, "this draw lays a pen across the plant"


def test_a_field_photograph_is_leaves_on_the_sheet_that_are_not_plant():
    """A glued field photograph is drawn with its own generator: the sheet without it is the
    sheet with it outside its box; it is green like leaves, yet no pixel of it is in the mask."""
    found = 0
    for index in range(6):
        plain = generate_plant_sheet(11, 300, 430, 70, index=index, kind="herb")
        glued = generate_plant_sheet(11, 300, 430, 70, index=index, kind="herb", field_photos=1.0)
        assert plain.truth["clutter"]["field_photos"] == []
        (photo,) = glued.truth["clutter"]["field_photos"]
        x0, y0, x1, y1 = photo["box"]
        inside = np.zeros(plain.mask.shape, bool)
        inside[y0:y1, x0:x1] = True
        near = ndimage.binary_dilation(inside, iterations=2)  # the scan's blur reaches 1 px out
        changed = (plain.rgb != glued.rgb).any(-1)
        assert changed[inside].mean() > 0.5 and not changed[~near].any()
        assert not glued.mask[inside].any(), "a photograph of leaves is not plant"
        assert np.array_equal(glued.mask[~inside], plain.mask[~inside])
        r, g, b = glued.rgb[inside].astype(int).T
        found += int(((g > r + 15) & (g > b + 15)).mean() > 0.05)  # living green leaves
    assert found >= 4, "most photographs show green leaves"


def test_flowers_are_recorded_as_plant_on_paper_and_written_with_the_collection(tmp_path):
    """``flowers`` marks the petals the flower-recall benchmark scores: plant, never leaf blade
    or stem, painted (not paper-coloured); the collection writes them beside the stems."""
    sheets = [generate_plant_sheet(9, 300, 430, 70, index=i, kind="herb") for i in range(8)]
    flowering = [s for s in sheets if s.truth["flower_px"] > 0]
    assert flowering, "70 % of herbs flower: one of 8 is all but certain"
    for s in sheets:
        assert s.flowers.sum() == s.truth["flower_px"]
        assert s.mask[s.flowers].all() and not (s.flowers & s.thin).any()
    s = flowering[0]
    paper = np.median(s.rgb[~s.mask], axis=0)
    assert np.median(np.abs(s.rgb[s.flowers].astype(int) - paper).sum(-1)) > 20
    truth = generate_plant_collection(tmp_path, 3, 9, 300, 430, 70, kind="herb")
    written = read_mask(tmp_path / "flowers" / "synth_0001.png")
    assert written.sum() == truth.loc[1, "flower_px"]


def test_pressed_petals_mark_the_flowers_only_and_tell_pale_ones_from_paper(monkeypatch):
    """The pressed-petal texture (veins, a browned margin) changes flower pixels and nothing else:
    drawn from its own stream, it leaves every other pixel as the flat flowers left it. A pale
    flower's margin is darker than its middle, as a dried petal's is."""
    import herbseg.synth.plant as P

    sheets = [generate_plant_sheet(9, 300, 430, 70, index=i, kind="herb") for i in range(8)]
    monkeypatch.setattr(P, "_press_petals", lambda *a, **k: None)
    flat = [generate_plant_sheet(9, 300, 430, 70, index=i, kind="herb") for i in range(8)]
    changed = 0
    for s, f in zip(sheets, flat, strict=True):
        assert np.array_equal(s.mask, f.mask) and np.array_equal(s.flowers, f.flowers)
        differ = (s.rgb != f.rgb).any(-1)
        # petals over a leaf (leaf in the mask) or under a tape strip are textured too
        near = ndimage.binary_dilation(s.flowers, iterations=16)
        near |= ndimage.binary_dilation(s.mask, iterations=2)
        assert not (differ & ~near).any(), "a stray draw from the sheet's stream moves it all"
        changed += int((differ & s.flowers).sum())
    assert changed > 0.3 * sum(int(s.flowers.sum()) for s in sheets)
    # a pale flower (one colour a sheet): its margin is darker than its middle, and than paper
    pale = 0
    for s in (s for s in sheets if s.flowers.sum() > 40):
        inner = ndimage.binary_erosion(s.flowers, iterations=2)
        lum = s.rgb.astype(float).mean(-1)
        if inner.sum() > 10 and lum[inner].mean() > 180:
            edge = s.flowers & ~inner
            assert lum[edge].mean() < min(lum[inner].mean(), np.median(lum[~s.mask]))
            pale += 1
    assert pale, "some of these sheets bear pale flowers"


def test_a_collection_drawn_once_is_kept_until_its_arguments_change(tmp_path):
    """Benchmarks keep drawn collections between runs: the same arguments reuse it, other ones
    draw it again (a seed-only key once kept sheets an older generator drew)."""
    from herbseg.synth.plant import plant_collection_once

    plant_collection_once(tmp_path, 2, 9, 300, 430, 70, kind="herb")
    truth = tmp_path / "truth.csv"
    first = truth.stat().st_mtime_ns
    truth.touch()  # a redraw would rewrite it
    kept = truth.stat().st_mtime_ns
    plant_collection_once(tmp_path, 2, 9, 300, 430, 70, kind="herb")
    assert truth.stat().st_mtime_ns == kept and kept >= first
    plant_collection_once(tmp_path, 2, 9, 300, 430, 70, kind="grass")
    assert set(pd.read_csv(truth)["kind"]) == {"grass"}
