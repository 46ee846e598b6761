"""The one image reader and writer of herbseg.

Every stage reads sheets and masks through this module so that format quirks (EXIF orientation,
CMYK, 16-bit, palettes, multi-page TIFF) and the decompression guard are handled in one place.
Errors are raised as :class:`SheetError` with a short, stable reason that ends up in the
manifest's ``error`` column.
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import tifffile
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from herbseg.io.files import atomic_path, atomic_write_bytes

# Herbarium scans are routinely above Pillow's bomb guard (~89 MP); our own ``max_megapixels``
# decides instead, checked from the header before any pixel is decoded.
Image.MAX_IMAGE_PIXELS = None
ImageFile.LOAD_TRUNCATED_IMAGES = False

DEFAULT_MAX_MEGAPIXELS = 400.0

# EXIF orientations 5..8 swap width and height.
_SWAPPING_ORIENTATIONS = {5, 6, 7, 8}
# What ImageOps.exif_transpose does per orientation, for pixels that did not come from Pillow.
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")


class SheetError(Exception):
    """A file that cannot be used as a sheet or mask; ``reason`` goes into the manifest."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class ImageInfo:
    """Header facts of an image, in the orientation a person sees (EXIF applied)."""

    width: int
    height: int
    mode: str
    format: str
    dpi_x: float | None
    dpi_y: float | None
    n_frames: int


def _orientation(im: Image.Image) -> int:
    try:
        return int(im.getexif().get(0x0112, 1) or 1)
    except Exception:  # noqa: BLE001 - a broken EXIF block must not lose the sheet
        return 1


def _dpi(im: Image.Image) -> tuple[float | None, float | None]:
    dpi = im.info.get("dpi")
    if dpi is None and "resolution" in im.info:  # TIFF without a unit tag
        dpi = im.info["resolution"]
    if not dpi:
        return None, None
    try:
        x, y = (float(v) for v in dpi[:2])
    except (TypeError, ValueError):
        return None, None
    return _dpi_pair(x, y)


def _dpi_pair(x: float, y: float) -> tuple[float | None, float | None]:
    if not (math.isfinite(x) and math.isfinite(y)) or x <= 0 or y <= 0:
        return None, None
    return round(x, 3), round(y, 3)


class _PillowCannot(Exception):
    """Pillow does not identify a file that is a TIFF (float, 32-bit): tifffile reads it."""


class _CodecMissing(Exception):
    """tifffile lacks the codec (LZW, JPEG in TIFF need imagecodecs): Pillow's libtiff decodes."""


def _is_tiff(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(4) in _TIFF_MAGIC


def _cut_short(path: Path) -> bool:
    """Whether a file Pillow or tifffile refused is a WebP or TIFF whose header points past its end.

    Pillow writes a TIFF's directory after the pixels, so a cut-off TIFF fails as a corrupt header
    and a cut-off WebP as a decoder error; both are reported as ``truncated`` instead.
    """
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as fh:
            head = fh.read(16)
            if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
                return int.from_bytes(head[4:8], "little") + 8 > size
            if head[:4] not in _TIFF_MAGIC:
                return False
            order = "little" if head[:2] == b"II" else "big"
            big = head[2:4] in (b"+\x00", b"\x00+")
            ifd = int.from_bytes(head[8:16] if big else head[4:8], order)
            fh.seek(ifd)
            count = int.from_bytes(fh.read(8 if big else 2), order)
            entry, tail = (20, 16) if big else (12, 6)
            return ifd + tail + entry * count > size
    except OSError:
        return False


def _open(path: Path) -> Image.Image:
    """Open lazily, turning every OS and format failure into a manifest reason."""
    try:
        if os.path.getsize(path) == 0:
            raise SheetError("empty file")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # odd EXIF or a short read: the row says enough
            im = Image.open(path)
    except SheetError:
        raise
    except PermissionError as exc:
        raise SheetError("permission denied") from exc
    except FileNotFoundError as exc:
        raise SheetError("file not found") from exc
    except UnidentifiedImageError as exc:
        if _cut_short(path):
            raise SheetError("truncated") from exc
        if _is_tiff(path):
            raise _PillowCannot from exc
        raise SheetError("unsupported format") from exc
    except OSError as exc:
        if _cut_short(path):
            raise SheetError("truncated") from exc
        raise SheetError(f"decode failed: {exc}") from exc
    return im


def _guard_size(width: int, height: int, max_megapixels: float) -> None:
    mp = width * height / 1e6
    if mp > max_megapixels:
        raise SheetError(f"too large: {mp:.0f} MP > max_megapixels {max_megapixels:g}")


def _guard(im: Image.Image, max_megapixels: float) -> None:
    _guard_size(im.width, im.height, max_megapixels)


def _tag_tuple(value) -> tuple:
    return tuple(value) if isinstance(value, tuple | list) else (value,)


def _tiff_deep(im: Image.Image) -> bool:
    """Pillow reads 16-bit colour TIFF by dropping the low byte and planar 16-bit colour wrongly,
    so those go to tifffile, which returns the samples as stored."""
    if im.format != "TIFF":
        return False
    bits = _tag_tuple(im.tag_v2.get(258, 8))
    return max(bits) > 8 and int(im.tag_v2.get(277, 1)) > 1


def _tiff_planar(im: Image.Image) -> bool:
    return im.format == "TIFF" and int(im.tag_v2.get(284, 1)) == 2


def _data_end(offsets, counts) -> int:
    pairs = list(zip(_tag_tuple(offsets), _tag_tuple(counts)))
    return max((int(o) + int(c) for o, c in pairs), default=0)


def _check_complete(path: Path, im: Image.Image) -> None:
    """Catch truncated exports from the file's structure, without decoding a single pixel.

    A complete JPEG ends with an EOI marker and a complete PNG with an IEND chunk (scanners and
    copy tools sometimes pad after them, so a few KiB of tail are searched); a WebP's RIFF header
    and a TIFF's strip or tile table say how long the file must be.
    """
    size = os.path.getsize(path)
    marker = {"JPEG": b"\xff\xd9", "PNG": b"IEND"}.get(im.format or "")
    if marker is not None:
        with open(path, "rb") as fh:
            fh.seek(max(0, size - 4096))
            if marker not in fh.read():
                raise SheetError("truncated")
    elif im.format == "WEBP":
        with open(path, "rb") as fh:
            head = fh.read(8)
        if len(head) < 8 or int.from_bytes(head[4:8], "little") + 8 > size:
            raise SheetError("truncated")
    elif im.format == "TIFF":
        tags = im.tag_v2
        end = _data_end(tags.get(273, ()), tags.get(279, ())) or _data_end(
            tags.get(324, ()), tags.get(325, ())
        )
        if end > size:
            raise SheetError("truncated")


def _tiff_failure(exc: Exception, path: Path) -> SheetError:
    """tifffile's exceptions as manifest reasons (it has no truncation error of its own)."""
    if isinstance(exc, PermissionError):
        return SheetError("permission denied")
    if _cut_short(path):
        return SheetError("truncated")
    return SheetError(f"decode failed: {exc}")


def _tiff_dpi(page: tifffile.TiffPage) -> tuple[float | None, float | None]:
    xres, yres, unit = (page.tags.get(t) for t in (282, 283, 296))
    if xres is None or yres is None:
        return None, None
    per_unit = {2: 1.0, 3: 2.54}.get(int(unit.value) if unit is not None else 2)
    if per_unit is None:
        return None, None
    try:
        x, y = (v[0] / v[1] * per_unit for v in (xres.value, yres.value))
    except (TypeError, ZeroDivisionError, IndexError):
        return None, None
    return _dpi_pair(x, y)


def _tiff_orientation(page: tifffile.TiffPage) -> int:
    tag = page.tags.get(274)
    return int(tag.value) if tag is not None else 1


def _probe_tiff(path: Path, max_megapixels: float) -> ImageInfo:
    """Header facts of a TIFF that Pillow cannot identify (float or 32-bit samples)."""
    try:
        with tifffile.TiffFile(path) as tif:
            page = tif.pages[0]
            w, h = int(page.imagewidth), int(page.imagelength)
            _guard_size(w, h, max_megapixels)
            if _data_end(page.dataoffsets, page.databytecounts) > os.path.getsize(path):
                raise SheetError("truncated")
            if _tiff_orientation(page) in _SWAPPING_ORIENTATIONS:
                w, h = h, w
            dpi_x, dpi_y = _tiff_dpi(page)
            samples = int(page.samplesperpixel)
            mode = f"{'RGB' if samples >= 3 else 'L'};{page.dtype}"
            return ImageInfo(w, h, mode, "TIFF", dpi_x, dpi_y, len(tif.pages))
    except SheetError:
        raise
    except Exception as exc:  # noqa: BLE001 - any reader failure is a row, never a crash
        raise _tiff_failure(exc, path) from exc


def _scale_to_uint8(arr: np.ndarray) -> np.ndarray:
    """Whole-range scaling (16-bit by /257), so deep scans keep their tones instead of clipping."""
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == bool:
        return arr.astype(np.uint8) * 255
    if arr.dtype.kind == "f":
        a = np.nan_to_num(arr.astype(np.float64))
        lo, hi = float(a.min(initial=0.0)), float(a.max(initial=0.0))
        if lo >= 0.0 and hi <= 1.0:
            return (a * 255.0).round().astype(np.uint8)
        return ((a - lo) * (255.0 / ((hi - lo) or 1.0))).round().astype(np.uint8)
    top = float(np.iinfo(arr.dtype).max)
    a = arr.astype(np.float64).clip(0, None)
    return (a * (255.0 / top)).round().clip(0, 255).astype(np.uint8)


def _tiff_samples(path: Path, max_megapixels: float) -> tuple[np.ndarray, int, int]:
    """The first page as stored, samples last: ``(array, photometric, orientation)``."""
    try:
        with tifffile.TiffFile(path) as tif:
            page = tif.pages[0]
            _guard_size(int(page.imagewidth), int(page.imagelength), max_megapixels)
            arr = page.asarray()
            axes = page.axes
            photometric, orientation = int(page.photometric), _tiff_orientation(page)
            if photometric == 3 and page.colormap is not None:  # palette: indices → colours
                arr, photometric = np.moveaxis(page.colormap[:, arr], 0, -1), 2
                axes = axes + "S"
    except SheetError:
        raise
    except ValueError as exc:
        if "imagecodecs" in str(exc):
            raise _CodecMissing(str(exc)) from exc
        raise _tiff_failure(exc, path) from exc
    except Exception as exc:  # noqa: BLE001 - any reader failure is a row, never a crash
        raise _tiff_failure(exc, path) from exc
    if "S" in axes:
        arr = np.moveaxis(arr, axes.index("S"), -1)
    arr = arr.reshape(arr.shape[-3:] if arr.ndim >= 3 and "S" in axes else arr.shape[-2:])
    return arr, photometric, orientation


def _tiff_rgb(path: Path, max_megapixels: float) -> np.ndarray:
    """Decode a TIFF with tifffile into upright 8-bit RGB."""
    arr, photometric, orientation = _tiff_samples(path, max_megapixels)
    arr8 = _scale_to_uint8(arr)
    if photometric == 0:  # WhiteIsZero
        arr8 = 255 - arr8
    samples = arr8.shape[2] if arr8.ndim == 3 else 1
    if samples == 1:
        im = Image.fromarray(arr8.reshape(arr8.shape[:2]), "L")
    elif samples == 2:
        im = Image.fromarray(np.ascontiguousarray(arr8), "LA")
    elif samples == 4 and photometric == 5:
        im = Image.fromarray(np.ascontiguousarray(arr8), "CMYK")
    elif samples >= 4:
        im = Image.fromarray(np.ascontiguousarray(arr8[..., :4]), "RGBA")
    else:
        im = Image.fromarray(np.ascontiguousarray(arr8), "RGB")
    if orientation in _TRANSPOSE:
        im = im.transpose(_TRANSPOSE[orientation])
    return np.asarray(_to_rgb(im))


def _upright_size(im: Image.Image) -> tuple[int, int]:
    """Width and height as a person sees the sheet.

    Recent Pillow already reports a rotated TIFF's size upright (and rotates its pixels on
    load), so the stored size from the TIFF tags tells whether the swap is still to be done.
    """
    w, h = im.size
    if _orientation(im) not in _SWAPPING_ORIENTATIONS:
        return w, h
    if im.format == "TIFF" and (im.tag_v2.get(256), im.tag_v2.get(257)) != (w, h):
        return w, h
    return h, w


def probe(path: str | os.PathLike, max_megapixels: float = DEFAULT_MAX_MEGAPIXELS) -> ImageInfo:
    """Read the header (and the file's structure), so ingest can account for a million files."""
    path = Path(path)
    try:
        with _open(path) as im:
            _guard(im, max_megapixels)
            _check_complete(path, im)
            w, h = _upright_size(im)
            dpi_x, dpi_y = _dpi(im)
            return ImageInfo(
                width=w,
                height=h,
                mode=f"{im.mode};16" if _tiff_deep(im) else im.mode,
                format=im.format or "",
                dpi_x=dpi_x,
                dpi_y=dpi_y,
                n_frames=int(getattr(im, "n_frames", 1)),
            )
    except _PillowCannot:
        return _probe_tiff(path, max_megapixels)


def _to_rgb(im: Image.Image) -> Image.Image:
    """Normalise any mode to 8-bit RGB, scaling 16-bit data instead of clipping it."""
    if im.mode == "RGB":
        return im
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(im, dtype=np.uint32 if im.mode == "I" else np.uint16)
        top = 65535 if im.mode != "I" or arr.max(initial=0) > 255 else 255
        arr8 = (arr.astype(np.float64) * (255.0 / top)).round().clip(0, 255).astype(np.uint8)
        return Image.fromarray(arr8, "L").convert("RGB")
    if im.mode == "F":
        arr = np.asarray(im, dtype=np.float64)
        span = float(arr.max() - arr.min()) or 1.0
        arr8 = ((arr - arr.min()) * (255.0 / span)).round().astype(np.uint8)
        return Image.fromarray(arr8, "L").convert("RGB")
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        # Transparent areas become white paper, not black, so they stay background.
        canvas = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(canvas, rgba).convert("RGB")
    return im.convert("RGB")


def _decode_failure(exc: Exception) -> SheetError:
    msg = str(exc)
    if isinstance(exc, OSError) and ("truncated" in msg or "broken data stream" in msg):
        return SheetError("truncated")
    return SheetError(f"decode failed: {msg}")


def _load_pillow(im: Image.Image, min_size: tuple[int, int] | None) -> np.ndarray:
    orientation = _orientation(im)
    if min_size is not None and im.format == "JPEG":
        want_w, want_h = min_size
        if orientation in _SWAPPING_ORIENTATIONS:
            want_w, want_h = want_h, want_w
        im.draft(im.mode if im.mode in ("RGB", "L") else None, (want_w, want_h))
    if getattr(im, "n_frames", 1) > 1:
        im.seek(0)  # multi-page TIFF: the first page is the sheet
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        im.load()
    if orientation != 1:
        im = ImageOps.exif_transpose(im)
    return np.asarray(_to_rgb(im))


def load_rgb(
    path: str | os.PathLike,
    min_size: tuple[int, int] | None = None,
    max_megapixels: float = DEFAULT_MAX_MEGAPIXELS,
) -> np.ndarray:
    """Decode a sheet as an upright ``H×W×3`` uint8 array.

    With ``min_size=(w, h)`` a JPEG is decoded at the coarsest 1/2, 1/4 or 1/8 scale that still
    covers that size (Pillow ``draft``), which is what makes resizing a collection of 24 MP scans
    cheap; the caller does the final, exact resize. Other formats decode in full. Deep colour
    TIFFs and TIFFs Pillow cannot identify are decoded by tifffile.
    """
    path = Path(path)
    try:
        with _open(path) as im:
            _guard(im, max_megapixels)
            if _tiff_deep(im):
                try:
                    return _tiff_rgb(path, max_megapixels)
                except _CodecMissing as exc:
                    if _tiff_planar(im):  # Pillow would return wrong pixels, not an error
                        raise SheetError(f"decode failed: {exc}") from exc
            return _load_pillow(im, min_size)
    except _PillowCannot:
        try:
            return _tiff_rgb(path, max_megapixels)
        except _CodecMissing as exc:
            raise SheetError(f"decode failed: {exc}") from exc
    except SheetError:
        raise
    except (OSError, ValueError, SyntaxError, MemoryError) as exc:
        raise _decode_failure(exc) from exc


def _mask_array(im: Image.Image) -> np.ndarray:
    if im.mode in ("RGBA", "LA"):
        arr = np.asarray(im)[..., -1]
        if arr.min() == arr.max():  # opaque: use the colour channels
            arr = np.asarray(im.convert("L"))
        return arr
    if im.mode in ("I;16", "I;16B", "I;16L", "I", "F", "1"):
        return np.asarray(im)
    return np.asarray(im.convert("L"))


def _tiff_mask(path: Path, max_megapixels: float) -> np.ndarray:
    try:
        arr, _, orientation = _tiff_samples(path, max_megapixels)
    except _CodecMissing as exc:
        raise SheetError(f"decode failed: {exc}") from exc
    fg = arr[..., :3].max(axis=-1) > 0 if arr.ndim == 3 else arr > 0
    if orientation in _TRANSPOSE:
        fg = np.asarray(Image.fromarray(fg).transpose(_TRANSPOSE[orientation]))
    return fg


def read_mask(
    path: str | os.PathLike, max_megapixels: float = DEFAULT_MAX_MEGAPIXELS
) -> np.ndarray:
    """Read an annotation as a boolean foreground array, upright.

    Lossless masks count any non-zero pixel as foreground (0/1, 0/255, label images); lossy JPEG
    masks are thresholded at 50 % because their edges and background carry compression noise.
    """
    path = Path(path)
    try:
        with _open(path) as im:
            _guard(im, max_megapixels)
            lossy = im.format == "JPEG"
            if getattr(im, "n_frames", 1) > 1:
                im.seek(0)
            im.load()
            arr = _mask_array(ImageOps.exif_transpose(im))
    except _PillowCannot:
        return _tiff_mask(path, max_megapixels)
    except SheetError:
        raise
    except (OSError, ValueError, SyntaxError, MemoryError) as exc:
        raise _decode_failure(exc) from exc
    if lossy:
        return arr >= 128
    return arr > 0


def write_mask(path: str | os.PathLike, mask: np.ndarray) -> None:
    """Write a boolean mask as a 1-bit black/white PNG.

    Every PNG reader takes 1-bit greyscale (OpenCV reads it as 0/255, scikit-image as booleans,
    Pillow as mode "1"), and it has an eighth of the 8-bit file's raw bytes to compress.
    OpenCV's encoder (libpng, run-length zlib strategy) writes it in a third of the time Pillow's
    adaptive row filters take, and smaller (BENCHMARKS.md, "Masks that are cheap to write")."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, mask_png_bytes(mask))


def mask_png_bytes(mask: np.ndarray) -> bytes:
    """The bytes :func:`write_mask` writes, for callers that compare before writing."""
    ones = np.ascontiguousarray(mask, dtype=bool).view(np.uint8)  # 0/1, no copy when boolean
    params = [cv2.IMWRITE_PNG_BILEVEL, 1, cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_RLE]
    ok, buf = cv2.imencode(".png", ones, params)
    if not ok:
        raise OSError(f"OpenCV could not encode a {ones.shape} mask as PNG")
    return buf.tobytes()


def write_rgb(path: str | os.PathLike, rgb: np.ndarray) -> None:
    """Write an RGB frame losslessly (PNG) so training sees exactly what resize produced."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        Image.fromarray(rgb, "RGB").save(tmp, format="PNG", compress_level=1)
