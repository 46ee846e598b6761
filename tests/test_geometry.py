import numpy as np
import pytest

from herbseg.io.geometry import (
    Geometry,
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
