import numpy as np
import pytest
from PIL import Image

from herbseg.images import SheetError, load_rgb, probe, read_mask, write_mask
from tests.conftest import write_sheet


def test_probe_reads_size_mode_dpi(tmp_path):
    info = probe(write_sheet(tmp_path / "a.jpg", 120, 180, dpi=300))
    assert (info.width, info.height, info.mode, info.format) == (120, 180, "RGB", "JPEG")
    assert info.dpi_x == pytest.approx(300) and info.dpi_y == pytest.approx(300)


def test_exif_orientation_applied_to_probe_and_pixels(tmp_path):
    arr = np.zeros((40, 100, 3), np.uint8)
    arr[:, :10] = 255  # a white band on the stored image's left
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    path = tmp_path / "phone.jpg"
    Image.fromarray(arr).save(path, exif=exif, quality=95)
    info = probe(path)
    assert (info.width, info.height) == (40, 100)
    rgb = load_rgb(path)
    assert rgb.shape == (100, 40, 3)
    assert rgb[:10].mean() > 200 and rgb[50:].mean() < 50  # the band is now on top


def test_draft_decodes_jpeg_at_reduced_scale_covering_request(tmp_path):
    path = write_sheet(tmp_path / "big.jpg", 1600, 2400)
    rgb = load_rgb(path, min_size=(256, 384))
    assert 256 <= rgb.shape[1] < 800 and 384 <= rgb.shape[0] < 1200


@pytest.mark.parametrize(
    ("name", "mode", "fmt"),
    [
        ("cmyk.jpg", "CMYK", "JPEG"),
        ("grey.jpg", "L", "JPEG"),
        ("rgba.png", "RGBA", "PNG"),
        ("pal.png", "P", "PNG"),
        ("lzw.tif", "RGB", "TIFF"),
        ("s.webp", "RGB", "WEBP"),
    ],
)
def test_modes_normalise_to_rgb(tmp_path, name, mode, fmt):
    im = Image.new("RGB", (30, 20), (200, 40, 40)).convert(mode)
    save = {"compression": "tiff_lzw"} if fmt == "TIFF" else {}
    im.save(tmp_path / name, format=fmt, **save)
    rgb = load_rgb(tmp_path / name)
    assert rgb.shape == (20, 30, 3) and rgb.dtype == np.uint8


def test_16bit_png_is_scaled_not_clipped(tmp_path):
    arr = np.full((10, 10), 32768, np.uint16)
    Image.fromarray(arr).save(tmp_path / "deep.png")
    assert abs(int(load_rgb(tmp_path / "deep.png")[0, 0, 0]) - 128) <= 1


def test_bad_files_raise_with_reason(tmp_path):
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "text.jpg").write_text("not an image")
    full = write_sheet(tmp_path / "full.jpg", 200, 300).read_bytes()
    (tmp_path / "cut.jpg").write_bytes(full[: len(full) // 2])
    for name, reason in [
        ("empty.jpg", "empty file"),
        ("text.jpg", "unsupported format"),
        ("cut.jpg", "truncated"),
    ]:
        with pytest.raises(SheetError) as err:
            probe(tmp_path / name)
        assert err.value.reason == reason
    with pytest.raises(SheetError, match="truncated|decode failed"):
        load_rgb(tmp_path / "cut.jpg")


def test_megapixel_guard(tmp_path):
    path = write_sheet(tmp_path / "a.png", 1000, 1000, fmt="PNG", dpi=None)
    with pytest.raises(SheetError, match="too large"):
        probe(path, max_megapixels=0.5)


def test_masks_threshold_by_format(tmp_path):
    ones = np.zeros((8, 8), np.uint8)
    ones[2:4, 2:4] = 1
    Image.fromarray(ones).save(tmp_path / "ones.png")
    assert read_mask(tmp_path / "ones.png").sum() == 4
    noisy = np.where(ones > 0, 240, 20).astype(np.uint8)
    Image.fromarray(noisy).save(tmp_path / "lossy.jpg", quality=100)
    assert read_mask(tmp_path / "lossy.jpg").sum() == 4
    m = np.zeros((5, 6), bool)
    m[1, 2] = True
    write_mask(tmp_path / "out" / "m.png", m)
    assert (read_mask(tmp_path / "out" / "m.png") == m).all()
