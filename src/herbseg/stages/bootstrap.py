"""Annotation bootstrap: candidate masks of unannotated sheets as COCO JSON, to correct and return.

A team grows its training set fastest by correcting masks rather than drawing them. This module
turns predicted masks (from the trained network, or from the classical baseline when there is no
network yet) into a COCO file that CVAT and Label Studio import as editable polygons. The file's
``file_name`` is each sheet's path relative to the sheets root, so once corrected and exported
again it goes straight back through ingest (``annotations:`` pointing at it): ingest matches COCO
images to sheets by exactly that relative path.

Polygons are the outer outlines of 4-connected components: annotation tools edit them best, but
a COCO polygon cannot hold a hole, so enclosed background (a loop of stem) is filled. ``rle``
keeps masks exact, for tools that edit masks.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image
from pycocotools import mask as mask_utils
from scipy import ndimage as ndi
from skimage.measure import approximate_polygon, find_contours

from herbseg.config.settings import settings_from
from herbseg.io.files import write_csv
from herbseg.io.images import read_mask
from herbseg.io.tables import read_table
from herbseg.measurement.holes import fill_holes
from herbseg.measurement.postprocess import PostprocessSettings, clean
from herbseg.stages.baseline import (
    BaselineSettings,
    load_fitted,
    load_sheet,
    segment,
    working_size,
)

FORMATS = ("polygon", "rle")


@dataclass(frozen=True)
class BootstrapSettings:
    """What the ``bootstrap:`` config section controls (``source`` ``auto`` is resolved by the
    rule, which passes the resolved source as ``params.source``)."""

    source: str = "auto"
    max_sheets: int | None = 50
    seed: int = 0
    category: str = "leaf"
    format: str = "polygon"
    tolerance_px: float = 1.0
    min_area_px: int = 200

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise ValueError(f"bootstrap.format must be one of {FORMATS}, got {self.format!r}")


def select_sheets(manifest: pd.DataFrame, max_sheets: int | None, seed: int) -> pd.DataFrame:
    """The unannotated ``ok`` sheets to propose, at most ``max_sheets``, drawn at random.

    The draw is a permutation of the sorted ids by ``seed``, so it depends on neither file order
    nor the machine, and raising ``max_sheets`` keeps the sheets already drawn. Random rather than
    "least confident": a team correcting a fixed share of candidates gets a fair picture of the
    collection, and nothing has to be re-predicted to rank sheets.
    """
    has_mask = manifest["has_mask"].astype(str).str.lower() == "true"
    todo = manifest[(manifest["status"] == "ok") & ~has_mask].sort_values("sheet_id")
    order = np.random.default_rng(seed).permutation(len(todo))
    if max_sheets is not None:
        order = order[:max_sheets]
    return todo.iloc[np.sort(order)].reset_index(drop=True)


def sheets_root(source: str | os.PathLike, paths: Iterable[str]) -> Path | None:
    """The folder sheet ids are relative to: the ``sheets`` folder, else the files' common root
    (a glob or a CSV list), as :func:`herbseg.io.sheets.discover_sheets` derives ids."""
    src = Path(source)
    if src.is_dir():
        return src
    parents = [str(Path(p).parent) for p in paths]
    return Path(os.path.commonpath(parents)) if parents else None


def file_name_for(path: str | os.PathLike, root: Path | None) -> str:
    """The COCO ``file_name``: the path relative to the sheets root, with ``/`` separators."""
    path = Path(path)
    if root is not None:
        try:
            return path.resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            pass
    return path.name


def mask_polygons(
    mask: np.ndarray, scale: float, tolerance_px: float = 1.0, min_area_px: int = 0
) -> list[list[float]]:
    """Outer outlines of the mask's components as COCO polygons in sheet pixels.

    ``scale`` is sheet pixels per mask pixel. Contours run along pixel edges (marching squares at
    0.5 on a padded component, shifted by half a pixel into COCO's corner-based coordinates), so
    rasterising the polygons gives back the component; ``tolerance_px`` then simplifies them.
    """
    labels, n = ndi.label(mask)  # 4-connected: one closed outline per component
    if n == 0:
        return []
    min_mask_px = min_area_px / (scale * scale)
    tol = tolerance_px / scale
    polygons = []
    for index, box in enumerate(ndi.find_objects(labels), start=1):
        part = labels[box] == index
        if part.sum() < min_mask_px:
            continue
        filled = np.pad(fill_holes(part), 1)
        contours = find_contours(filled.astype(np.float32), 0.5)
        outline = max(contours, key=len)
        if tol > 0:
            outline = approximate_polygon(outline, tolerance=tol)
        if len(outline) < 4:  # closed: first point repeated, so 3 distinct points at least
            continue
        rows = (outline[:, 0] - 1 + box[0].start + 0.5) * scale
        cols = (outline[:, 1] - 1 + box[1].start + 0.5) * scale
        polygons.append(np.round(np.stack([cols, rows], 1).ravel(), 2).tolist())
    return polygons


def _resized(mask: np.ndarray, width: int, height: int) -> np.ndarray:
    if mask.shape == (height, width):
        return mask
    im = Image.fromarray(mask.astype(np.uint8) * 255).resize((width, height), Image.NEAREST)
    return np.asarray(im) >= 128


def _bbox(poly: list[float]) -> list[float]:
    xs, ys = poly[0::2], poly[1::2]
    return [min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)]


def annotations_for(
    mask: np.ndarray, sheet_w: int, sheet_h: int, settings: BootstrapSettings
) -> list[dict[str, Any]]:
    """One sheet's COCO annotations (without ids): a polygon per component, or one RLE."""
    if settings.format == "rle":
        full = _resized(mask, sheet_w, sheet_h)
        if not full.any():
            return []
        with warnings.catch_warnings():  # pycocotools predates numpy 2's copy keyword
            warnings.simplefilter("ignore", DeprecationWarning)
            rle = mask_utils.encode(np.asfortranarray(full.astype(np.uint8)))
        bbox = [float(v) for v in mask_utils.toBbox(rle)]
        counts = rle["counts"].decode("ascii")
        return [{"segmentation": {"size": [sheet_h, sheet_w], "counts": counts},
                 "area": float(mask_utils.area(rle)), "bbox": bbox, "iscrowd": 1}]  # fmt: skip
    out = []
    for poly in mask_polygons(mask, sheet_w / mask.shape[1], settings.tolerance_px,
                              settings.min_area_px):  # fmt: skip
        rle = mask_utils.frPyObjects([poly], sheet_h, sheet_w)
        area = float(mask_utils.area(rle)[0])
        out.append({"segmentation": [poly], "area": area, "bbox": _bbox(poly), "iscrowd": 0})
    return out


def build_coco(
    sheets: pd.DataFrame,
    masks: Callable[[dict], np.ndarray],
    root: Path | None,
    settings: BootstrapSettings,
    *,
    description: str = "herbseg bootstrap candidates",
    log: Callable[[str], None] = print,
) -> tuple[dict[str, Any], pd.DataFrame]:
    """The COCO document for ``sheets`` (manifest rows) and a table of what it holds.

    ``masks(row)`` returns a row's candidate mask in the sheet's geometry (any size with the
    sheet's aspect). A sheet whose candidate is empty keeps its image entry without annotations,
    which ingest reads as "not annotated yet", never as an empty sheet.
    """
    coco: dict[str, Any] = {
        "info": {
            "description": description,
            "date_created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        },
        "licenses": [],
        "categories": [{"id": 1, "name": settings.category, "supercategory": "plant"}],
        "images": [],
        "annotations": [],
    }
    table = []
    for image_id, row in enumerate(sheets.to_dict("records"), start=1):
        w, h = int(row["width"]), int(row["height"])
        name = file_name_for(row["path"], root)
        coco["images"].append({"id": image_id, "file_name": name, "width": w, "height": h})
        mask = masks(row)
        anns = annotations_for(mask, w, h, settings)
        for ann in anns:
            ann.update(id=len(coco["annotations"]) + 1, image_id=image_id, category_id=1)
            coco["annotations"].append(ann)
        table.append(
            {"sheet_id": row["sheet_id"], "path": row["path"], "file_name": name,
             "n_annotations": len(anns), "plant_fraction": float(mask.mean())}
        )  # fmt: skip
    log(
        f"{len(coco['images'])} candidate sheets, {len(coco['annotations'])} "
        f"{settings.format} annotations"
    )
    return coco, pd.DataFrame(
        table, columns=["sheet_id", "path", "file_name", "n_annotations", "plant_fraction"]
    )


def candidates(inputs, params, chosen: pd.DataFrame, log: Callable[[str], None]):
    """The chosen sheets that get a candidate, and ``mask(row)``: the trained model's cleaned
    prediction (``params.source`` model) or the classical baseline's mask (baseline: the fitted
    one, else Otsu's threshold)."""
    cleanup = settings_from(PostprocessSettings, params.postprocess, "postprocess")
    if params.source == "model":
        preds = pd.concat([read_table(t, "predictions") for t in inputs.predictions])
        preds = preds[preds["status"] == "ok"].set_index("sheet_id")
        missing = sorted(set(chosen["sheet_id"]) - set(preds.index))
        if missing:  # failed in predict: their rows there say why
            log(f"{len(missing)} drawn sheets have no prediction and are left out")
            chosen = chosen[~chosen["sheet_id"].isin(missing)]

        def from_model(row: dict) -> np.ndarray:
            mask = read_mask(preds.loc[row["sheet_id"], "mask_path"])
            return clean(mask, cleanup, scale=mask.shape[1] / int(row["width"]))

        return chosen, from_model

    base = settings_from(BaselineSettings, params.baseline, "baseline")
    fitted = load_fitted(inputs.baseline) if getattr(inputs, "baseline", None) else None
    if fitted is None and base.method == "learned":
        log("no fitted baseline (no annotations): Otsu's threshold instead")
        base = replace(base, method="otsu")

    def from_baseline(row: dict) -> np.ndarray:
        w, h = int(row["width"]), int(row["height"])
        mask = segment(load_sheet(row, base), base, fitted, working_size(w, h, base.long_side), w)
        return clean(mask, cleanup, scale=mask.shape[1] / w)

    return chosen, from_baseline


def run(inputs, outputs, params, *, threads: int, log: Callable[[str], None]) -> None:
    """Rule bootstrap: ``candidates.json`` (COCO) and ``candidates.csv``."""
    settings = settings_from(BootstrapSettings, params.bootstrap, "bootstrap")
    manifest = read_table(inputs.manifest, "text")
    chosen = select_sheets(manifest, settings.max_sheets, settings.seed)
    root = sheets_root(params.sheets, manifest.loc[manifest["status"] == "ok", "path"])
    log(
        f"{len(chosen)} of the unannotated sheets drawn (seed {settings.seed}); "
        f"source {params.source}"
    )
    chosen, mask = candidates(inputs, params, chosen, log)
    description = f"herbseg bootstrap ({params.source})"
    coco, table = build_coco(chosen, mask, root, settings, description=description, log=log)
    with open(outputs.coco, "w", encoding="utf-8") as fh:
        json.dump(coco, fh)
    write_csv(table, outputs.table)
