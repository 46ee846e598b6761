"""COCO JSON annotations (CVAT, Label Studio exports) rendered into binary leaf masks.

Annotation tools export polygons or run-length encodings, not mask images; rendering them once at
ingest lets every later stage treat them like any other mask file. Only the configured
foreground categories count as leaf, so a file that also outlines rulers or labels still works.
"""

from __future__ import annotations

import json
import os
import re
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pycocotools import mask as mask_utils

DEFAULT_CATEGORIES = ("leaf",)
# Label Studio prefixes uploaded files with an 8-hex-digit key: "3f2a1b4c-IMG_0001.jpg".
_UPLOAD_PREFIX = re.compile(r"^[0-9a-f]{8}-(.+)$")


@dataclass(frozen=True)
class CocoImage:
    """One COCO image entry rendered to a mask (``None`` when it carries no annotation at all,
    i.e. nobody has annotated it yet, which is not the same as an empty sheet)."""

    file_name: str
    width: int
    height: int
    mask: np.ndarray | None
    source: Path


def is_coco(path: str | os.PathLike) -> bool:
    """A JSON file with ``images`` and ``annotations`` lists; other JSON is not an annotation."""
    try:
        data = load(path)
    except (OSError, ValueError):
        return False
    return isinstance(data.get("images"), list) and isinstance(data.get("annotations"), list)


def load(path: str | os.PathLike) -> dict:
    with open(path, encoding="utf-8") as fh:
        data = json.load(fh)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not a COCO object")
    return data


def foreground_ids(data: dict, categories: Iterable[str], source: str | os.PathLike) -> set[int]:
    """Category ids whose names are configured (case-insensitive).

    A file with none of them is a configuration mistake (``leaf`` vs ``Leaf blade``), and
    rendering it would silently produce empty masks, so it stops the run with the names it has.
    """
    wanted = {c.strip().lower() for c in categories}
    cats = data.get("categories") or []
    ids = {int(c["id"]) for c in cats if str(c.get("name", "")).strip().lower() in wanted}
    if not ids:
        have = sorted({str(c.get("name", "")) for c in cats})
        raise ValueError(
            f"{source}: none of ingest.coco_categories {sorted(wanted)} is a category of this "
            f"COCO file (it has {have})"
        )
    return ids


def segmentation_mask(segmentation, height: int, width: int) -> np.ndarray:
    """One annotation's pixels: polygons, uncompressed RLE (``iscrowd`` 1) or compressed RLE."""
    if isinstance(segmentation, list):
        polygons = [p for p in segmentation if len(p) >= 6]  # fewer than 3 points cover nothing
        if not polygons:
            return np.zeros((height, width), bool)
        rle = mask_utils.merge(mask_utils.frPyObjects(polygons, height, width))
    elif isinstance(segmentation, dict) and isinstance(segmentation.get("counts"), list):
        h, w = segmentation.get("size", (height, width))
        rle = mask_utils.frPyObjects(segmentation, h, w)
    elif isinstance(segmentation, dict):
        counts = segmentation["counts"]
        rle = {"size": segmentation["size"], "counts": counts.encode() if isinstance(counts, str)
               else counts}  # fmt: skip
    else:
        raise ValueError(f"unknown segmentation of type {type(segmentation).__name__}")
    with warnings.catch_warnings():  # pycocotools' decoder predates numpy 2's copy keyword
        warnings.simplefilter("ignore", DeprecationWarning)
        out = mask_utils.decode(rle).astype(bool)
    if out.shape != (height, width):
        raise ValueError(f"segmentation is {out.shape[1]}×{out.shape[0]}, image {width}×{height}")
    return out


def render(
    path: str | os.PathLike, categories: Iterable[str] = DEFAULT_CATEGORIES
) -> Iterator[CocoImage]:
    """Every image of a COCO file with its foreground mask, one at a time (sheets are large)."""
    source = Path(path)
    data = load(source)
    fg = foreground_ids(data, categories, source)
    by_image: dict[int, list[dict]] = {}
    for ann in data.get("annotations", []):
        by_image.setdefault(int(ann["image_id"]), []).append(ann)
    for image in data.get("images", []):
        w, h = int(image["width"]), int(image["height"])
        anns = by_image.get(int(image["id"]))
        mask = None
        if anns:
            mask = np.zeros((h, w), bool)
            for ann in anns:
                if int(ann.get("category_id", -1)) in fg and ann.get("segmentation"):
                    mask |= segmentation_mask(ann["segmentation"], h, w)
        yield CocoImage(str(image["file_name"]), w, h, mask, source)


def name_keys(file_name: str) -> list[str]:
    """Stems a COCO ``file_name`` may be known by: its own, and without Label Studio's prefix."""
    stem = Path(file_name.replace("\\", "/")).stem
    keys = [stem]
    if m := _UPLOAD_PREFIX.match(stem):
        keys.append(m.group(1))
    return keys


def relative_parts(file_name: str) -> tuple[str, ...]:
    """The file name as a relative path, without ``./``/``../`` or a drive, for the id rule."""
    parts = Path(file_name.replace("\\", "/")).with_suffix("").parts
    return tuple(p for p in parts if p not in ("", ".", "..", "/") and not p.endswith(":"))
