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

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

# Herbarium scans are routinely above Pillow's bomb guard (~89 MP); our own ``max_megapixels``
# decides instead, checked from the header before any pixel is decoded.
Image.MAX_IMAGE_PIXELS = None
ImageFile.LOAD_TRUNCATED_IMAGES = False

DEFAULT_MAX_MEGAPIXELS = 400.0

# EXIF orientations 5..8 swap width and height.
_SWAPPING_ORIENTATIONS = {5, 6, 7, 8}


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
    if not (math.isfinite(x) and math.isfinite(y)) or x <= 0 or y <= 0:
        return None, None
    return round(x, 3), round(y, 3)


def _open(path: Path) -> Image.Image:
    """Open lazily, turning every OS and format failure into a manifest reason."""
    try:
        if os.path.getsize(path) == 0:
            raise SheetError("empty file")
        im = Image.open(path)
    except SheetError:
        raise
    except PermissionError as exc:
        raise SheetError("permission denied") from exc
    except FileNotFoundError as exc:
        raise SheetError("file not found") from exc
    except UnidentifiedImageError as exc:
        raise SheetError("unsupported format") from exc
    except OSError as exc:
        raise SheetError(f"decode failed: {exc}") from exc
    return im


def _guard(im: Image.Image, max_megapixels: float) -> None:
    mp = im.width * im.height / 1e6
    if mp > max_megapixels:
        raise SheetError(f"too large: {mp:.0f} MP > max_megapixels {max_megapixels:g}")


def _check_complete(path: Path, fmt: str | None) -> None:
    """Catch truncated exports from the file's tail, without decoding a single pixel.

    A complete JPEG ends with an EOI marker and a complete PNG with an IEND chunk; scanners and
    copy tools sometimes pad after them, so a few KiB of tail are searched.
    """
    marker = {"JPEG": b"\xff\xd9", "PNG": b"IEND"}.get(fmt or "")
    if marker is None:
        return
    size = os.path.getsize(path)
    with open(path, "rb") as fh:
        fh.seek(max(0, size - 4096))
        if marker not in fh.read():
            raise SheetError("truncated")


def probe(path: str | os.PathLike, max_megapixels: float = DEFAULT_MAX_MEGAPIXELS) -> ImageInfo:
    """Read the header (and the file's last bytes), so ingest can account for a million files."""
    path = Path(path)
    with _open(path) as im:
        _guard(im, max_megapixels)
        _check_complete(path, im.format)
        w, h = im.size
        if _orientation(im) in _SWAPPING_ORIENTATIONS:
            w, h = h, w
        dpi_x, dpi_y = _dpi(im)
        return ImageInfo(
            width=w,
            height=h,
            mode=im.mode,
            format=im.format or "",
            dpi_x=dpi_x,
            dpi_y=dpi_y,
            n_frames=int(getattr(im, "n_frames", 1)),
        )


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


def load_rgb(
    path: str | os.PathLike,
    min_size: tuple[int, int] | None = None,
    max_megapixels: float = DEFAULT_MAX_MEGAPIXELS,
) -> np.ndarray:
    """Decode a sheet as an upright ``H×W×3`` uint8 array.

    With ``min_size=(w, h)`` a JPEG is decoded at the coarsest 1/2, 1/4 or 1/8 scale that still
    covers that size (Pillow ``draft``), which is what makes resizing a collection of 24 MP scans
    cheap; the caller does the final, exact resize. Other formats decode in full.
    """
    path = Path(path)
    try:
        with _open(path) as im:
            _guard(im, max_megapixels)
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
    except SheetError:
        raise
    except OSError as exc:
        msg = str(exc)
        if "truncated" in msg or "broken data stream" in msg or "image file is truncated" in msg:
            raise SheetError("truncated") from exc
        raise SheetError(f"decode failed: {msg}") from exc
    except (ValueError, SyntaxError, MemoryError) as exc:
        raise SheetError(f"decode failed: {exc}") from exc


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
            im = ImageOps.exif_transpose(im)
            if im.mode in ("RGBA", "LA"):
                arr = np.asarray(im)[..., -1]
                if arr.min() == arr.max():  # opaque: use the colour channels
                    arr = np.asarray(im.convert("L"))
            elif im.mode in ("I;16", "I;16B", "I;16L", "I", "F", "1"):
                arr = np.asarray(im)
            else:
                arr = np.asarray(im.convert("L"))
    except SheetError:
        raise
    except OSError as exc:
        raise SheetError(f"decode failed: {exc}") from exc
    if lossy:
        return arr >= 128
    return arr > 0


def write_mask(path: str | os.PathLike, mask: np.ndarray) -> None:
    """Write a boolean mask as an 8-bit 0/255 PNG, the form every annotation tool reads."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.where(mask, 255, 0).astype(np.uint8), "L").save(
        path, format="PNG", compress_level=3
    )


def write_rgb(path: str | os.PathLike, rgb: np.ndarray) -> None:
    """Write an RGB frame losslessly (PNG) so training sees exactly what resize produced."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgb, "RGB").save(path, format="PNG", compress_level=1)
