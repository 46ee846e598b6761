import numpy as np
import pytest
from PIL import Image

from herbseg.io.geometry import (
    Geometry,
    frame_to_grid,
    frame_to_sheet,
    image_to_frame,
    mask_to_frame,
    output_size,
    plan,
)


def test_squash_fills_frame():
    g = plan(2000, 3000, 512, "squash")
    assert (g.box_x, g.box_y, g.box_w, g.box_h) == (0, 0, 512, 512)
    # the decoder may stop at the size whose smaller ratio still covers the frame
    assert g.decode_size() == (512, 768)


def test_letterbox_keeps_aspect_and_centres():
    g = plan(2000, 3000, 512, "letterbox")
    assert g.box_h == 512 and g.box_w == 341
    assert g.box_x == (512 - 341) // 2 and g.box_y == 0
    assert g.decode_size() == (342, 512)  # covers both box sides


def test_bad_mode_and_size_rejected():
    with pytest.raises(ValueError, match="resize mode"):
        plan(10, 10, 8, "stretch")
    with pytest.raises(ValueError, match="positive"):
        plan(0, 10, 8)


@pytest.mark.parametrize("mode", ["squash", "letterbox"])
def test_mask_round_trip_lands_on_the_same_pixels(mode):
    sheet = np.zeros((600, 400), bool)
    sheet[150:450, 100:250] = True
    g = plan(400, 600, 128, mode)
    frame = mask_to_frame(sheet, g)
    back = frame_to_sheet(frame.astype(np.float32), g, 400, 600)
    iou = (back & sheet).sum() / (back | sheet).sum()
    assert iou > 0.97


def test_image_to_frame_pads_letterbox_with_grey():
    g = plan(100, 200, 64, "letterbox")
    out = image_to_frame(np.zeros((200, 100, 3), np.uint8), g)
    assert out.shape == (64, 64, 3)
    assert (out[:, : g.box_x] == 127).all() and (out[:, g.box_x : g.box_x + g.box_w] == 0).all()


def test_geometry_row_round_trip():
    g = plan(750, 1000, 512, "letterbox")
    row = {k: str(v) for k, v in g.as_row().items()}
    assert Geometry.from_row(row) == g


def test_output_size():
    assert output_size(2000, 3000, None) == (2000, 3000)
    assert output_size(2000, 3000, 1500) == (1000, 1500)
    assert output_size(200, 300, 1500) == (200, 300)


def _soft_frame(rng: np.random.Generator, size: int) -> np.ndarray:
    """A network-like probability frame: smooth blobs with sharp-ish outlines."""
    from scipy import ndimage as ndi

    field = ndi.gaussian_filter(rng.normal(size=(size, size)), rng.uniform(1, 8))
    return (1 / (1 + np.exp(-field * rng.uniform(5, 60)))).astype(np.float32)


@pytest.mark.parametrize("seed", range(24))
def test_frame_to_sheet_gives_pillows_pixels(seed):
    """The block-wise mask equals Pillow's bilinear grid thresholded, pixel for pixel: up- and
    down-scaling, both modes, odd sizes, flat frames, several thresholds."""
    rng = np.random.default_rng(seed)
    frame = int(rng.choice([32, 64, 128]))
    w, h = int(rng.integers(5, 900)), int(rng.integers(5, 900))
    g = plan(w, h, frame, str(rng.choice(["squash", "letterbox"])))
    prob = _soft_frame(rng, frame)
    if seed % 6 == 0:
        prob[:] = np.float32(rng.choice([0.0, 0.5, 1.0]))
    threshold = float(rng.choice([0.5, 0.3, 0.77]))
    out_w, out_h = (w, h) if seed % 3 else (max(1, w // 3), max(1, h // 3))
    want = frame_to_grid(prob, g, out_w, out_h) >= threshold
    got = frame_to_sheet(prob, g, out_w, out_h, threshold)
    assert got.shape == want.shape == (out_h, out_w)
    assert (got == want).all(), f"{int((got != want).sum())} pixels differ"


def test_frame_to_sheet_can_fail():
    """The equality above is not vacuous: thresholding before interpolating (nearest) differs."""
    rng = np.random.default_rng(1)
    prob = _soft_frame(rng, 64)
    g = plan(700, 900, 64)
    near = np.asarray(Image.fromarray(prob >= 0.5).resize((700, 900), Image.Resampling.NEAREST))
    assert (near != frame_to_sheet(prob, g, 700, 900)).sum() > 100


def test_thin_structures_stay_continuous_in_the_frame():
    """A 2-pixel stem brought down about fourfold: nearest-neighbour breaks it, ``keep_thin``
    keeps a continuous line; the wide parts of the mask are mapped as before."""
    mask = np.zeros((2000, 1400), bool)
    mask[300:900, 300:1100] = True  # a blade
    mask[900:1800, 699:701] = True  # a stem two pixels wide hanging from it
    geom = plan(1400, 2000, 512, "squash")
    plain = mask_to_frame(mask, geom)
    kept = mask_to_frame(mask, geom, keep_thin=True)
    rows = slice(int(900 * 512 / 2000) + 2, int(1800 * 512 / 2000) - 2)
    assert plain[rows].any(axis=1).mean() < 0.8  # the premise: the stem is broken or gone
    assert kept[rows].any(axis=1).all() and kept[rows].sum(axis=1).max() <= 2
    blade = (kept[: rows.start - 3] != plain[: rows.start - 3]).sum()
    assert blade <= 8  # the blade as before, but at its four corners, which no disc fits
    upscaled = plan(200, 300, 512, "squash")  # a mask coarser than the frame: nothing to keep
    small = mask[::10, ::7][:300, :200]
    assert np.array_equal(mask_to_frame(small, upscaled, keep_thin=True),
                          mask_to_frame(small, upscaled))  # fmt: skip


def test_thin_labels_auto_follows_the_mask_class():
    from herbseg.stages.resize import keep_thin_labels

    assert keep_thin_labels("auto", "plant") and not keep_thin_labels("auto", "leaf")
    assert keep_thin_labels(True, "leaf") and not keep_thin_labels(False, "plant")
