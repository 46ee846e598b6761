import os

import numpy as np
import pytest
import tifffile
from PIL import Image

from herbseg.io import images
from herbseg.io.images import SheetError, load_rgb, probe, read_mask, write_mask
from tests.helpers import write_sheet


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


def _rgb(w: int = 30, h: int = 20) -> np.ndarray:
    arr = np.zeros((h, w, 3), np.uint8)
    arr[...] = (200, 40, 40)
    arr[:, :10] = (30, 160, 60)
    return arr


def test_progressive_jpeg_decodes_and_drafts(tmp_path):
    path = tmp_path / "p.jpg"
    Image.fromarray(np.repeat(np.repeat(_rgb(), 20, 0), 20, 1)).save(path, progressive=True)
    assert probe(path).format == "JPEG"
    small = load_rgb(path, min_size=(150, 100))
    assert 150 <= small.shape[1] < 600 and abs(small[..., 0].mean() - 143) < 6


def test_16bit_colour_tiff_is_scaled_by_257_chunky_and_planar(tmp_path):
    deep = _rgb().astype(np.uint16) * 257 + 100  # low bytes Pillow would drop
    tifffile.imwrite(tmp_path / "chunky.tif", deep, photometric="rgb", compression="zlib")
    tifffile.imwrite(tmp_path / "planar.tif", np.moveaxis(deep, -1, 0), photometric="rgb",
                     planarconfig="separate")  # fmt: skip
    want = np.round(deep / 257).astype(np.uint8)
    for name in ("chunky.tif", "planar.tif"):
        assert probe(tmp_path / name).mode == "RGB;16"
        assert (load_rgb(tmp_path / name) == want).all(), name


def test_tiffs_pillow_cannot_identify_are_read_by_tifffile(tmp_path):
    tifffile.imwrite(tmp_path / "f.tif", _rgb().astype(np.float32) / 255, photometric="rgb",
                     resolution=(118.11, 118.11), resolutionunit="CENTIMETER")  # fmt: skip
    info = probe(tmp_path / "f.tif")
    assert (info.width, info.height, info.mode) == (30, 20, "RGB;float32")
    assert info.dpi_x == pytest.approx(300, abs=0.1)
    assert np.abs(load_rgb(tmp_path / "f.tif").astype(int) - _rgb()).max() <= 1
    mask = np.zeros((20, 30), np.float32)
    mask[2:5, 3:9] = 0.7
    tifffile.imwrite(tmp_path / "m.tif", mask)
    assert read_mask(tmp_path / "m.tif").sum() == 18


def test_tiff_orientation_tag_is_applied_on_the_tifffile_path(tmp_path):
    deep = _rgb().astype(np.uint16) * 257
    tifffile.imwrite(tmp_path / "o.tif", deep, photometric="rgb",
                     extratags=[(274, "H", 1, 6, False)])  # fmt: skip
    info = probe(tmp_path / "o.tif")
    assert (info.width, info.height) == (20, 30)
    rgb = load_rgb(tmp_path / "o.tif")
    assert rgb.shape == (30, 20, 3) and (rgb[:10, :, 1] == 160).all()  # left band now on top


def test_16bit_rgb_png_and_first_page_of_multipage_tiff(tmp_path):
    from tests.helpers import png16_rgb

    png16_rgb(tmp_path / "deep.png", _rgb().astype(np.uint16) * 257)
    assert (load_rgb(tmp_path / "deep.png") == _rgb()).all()
    pages = [Image.fromarray(_rgb()), Image.new("RGB", (5, 5), (0, 0, 255))]
    pages[0].save(tmp_path / "multi.tif", save_all=True, append_images=pages[1:],
                  compression="tiff_adobe_deflate")  # fmt: skip
    assert probe(tmp_path / "multi.tif").n_frames == 2
    assert (load_rgb(tmp_path / "multi.tif") == _rgb()).all()


@pytest.mark.parametrize("fmt", ["TIFF", "WEBP"])
def test_truncated_tiff_and_webp_are_reported_as_truncated(tmp_path, fmt):
    path = write_sheet(tmp_path / f"a.{fmt.lower()}", 200, 300, fmt=fmt, dpi=None)
    data = path.read_bytes()
    (tmp_path / "cut").write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(SheetError) as err:
        probe(tmp_path / "cut")
    assert err.value.reason == "truncated"


def test_permission_error_from_open_is_a_reason(tmp_path, monkeypatch):
    path = write_sheet(tmp_path / "a.jpg")

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(images.Image, "open", refuse)
    for read in (probe, load_rgb, read_mask):
        with pytest.raises(SheetError) as err:
            read(path)
        assert err.value.reason == "permission denied"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_mode_000_file_is_permission_denied(tmp_path):
    path = write_sheet(tmp_path / "a.jpg")
    path.chmod(0)
    try:
        with pytest.raises(SheetError, match="permission denied"):
            probe(path)
    finally:
        path.chmod(0o644)


@pytest.mark.parametrize("compression", [None, "tiff_lzw"])
def test_rotated_tiff_size_matches_its_pixels(tmp_path, compression):
    arr = np.zeros((20, 30, 3), np.uint8)
    arr[:, :10] = 255
    path = tmp_path / "r.tif"
    Image.fromarray(arr).save(path, tiffinfo={274: 6}, compression=compression)
    info = probe(path)
    rgb = load_rgb(path)
    assert (info.width, info.height) == (20, 30) == (rgb.shape[1], rgb.shape[0])
    assert rgb[:10].mean() == 255 and read_mask(path).shape == (30, 20)
