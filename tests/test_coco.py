"""COCO JSON annotations: every segmentation encoding, the category filter, and sheet matching."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils

from herbseg.io import coco
from herbseg.io.sheets import discover_sheets
from herbseg.stages.ingest import ingest, render_coco
from tests.helpers import write_mask_file, write_sheet

W, H = 30, 20


def box(x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
    m = np.zeros((H, W), bool)
    m[y0:y1, x0:x1] = True
    return m


def uncompressed_rle(m: np.ndarray) -> dict:
    """COCO's ``iscrowd`` form: run lengths over the column-major pixels, starting with 0s."""
    flat = m.flatten(order="F").astype(np.uint8)
    edges = np.flatnonzero(np.diff(flat)) + 1
    bounds = np.concatenate([[0], edges, [flat.size]])
    counts = np.diff(bounds).tolist()
    if flat[0]:
        counts = [0, *counts]
    return {"size": [m.shape[0], m.shape[1]], "counts": counts}


def test_polygon_and_both_rle_forms_render_the_same_pixels():
    want = box(3, 5, 12, 10)
    polygon = [[3, 5, 12, 5, 12, 10, 3, 10]]
    compressed = mask_utils.encode(np.asfortranarray(want.astype(np.uint8)))
    as_text = {"size": compressed["size"], "counts": compressed["counts"].decode()}
    for seg in (polygon, uncompressed_rle(want), compressed, as_text):
        assert (coco.segmentation_mask(seg, H, W) == want).all(), seg


def test_degenerate_polygons_cover_nothing_and_wrong_sizes_are_refused():
    assert not coco.segmentation_mask([[1, 1, 5, 5]], H, W).any()
    other = mask_utils.encode(np.asfortranarray(np.ones((5, 5), np.uint8)))
    with pytest.raises(ValueError, match="5×5"):
        coco.segmentation_mask(other, H, W)


def coco_file(path: Path, images: list[dict], annotations: list[dict], names=("Leaf", "ruler")):
    data = {
        "images": images,
        "annotations": [{"id": i + 1, "iscrowd": 0, **a} for i, a in enumerate(annotations)],
        "categories": [{"id": i + 1, "name": n} for i, n in enumerate(names)],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path


def image(i: int, name: str) -> dict:
    return {"id": i, "file_name": name, "width": W, "height": H}


def test_render_keeps_only_configured_categories_case_insensitively(tmp_path):
    path = coco_file(
        tmp_path / "a.json",
        [image(1, "a.jpg"), image(2, "b.jpg")],
        [
            {"image_id": 1, "category_id": 1, "segmentation": [[0, 0, 10, 0, 10, 10, 0, 10]]},
            {"image_id": 1, "category_id": 2, "segmentation": [[20, 0, 30, 0, 30, 10, 20, 10]]},
        ],
    )
    a, b = coco.render(path, ["leaf"])
    assert (a.mask == box(0, 0, 10, 10)).all()  # the ruler is not leaf
    assert b.mask is None  # nobody annotated b.jpg: not an empty sheet
    both = next(coco.render(path, ["LEAF", "Ruler"]))
    assert both.mask.sum() == 200
    with pytest.raises(ValueError, match=r"none of ingest.coco_categories \['lamina'\].*Leaf"):
        next(coco.render(path, ["lamina"]))


def test_name_keys_strip_label_studio_upload_prefix():
    assert coco.name_keys("images/3f2a1b4c-IMG_1.jpg") == ["3f2a1b4c-IMG_1", "IMG_1"]
    assert coco.relative_parts("../../inst_a/IMG_1.jpg") == ("inst_a", "IMG_1")
    assert coco.relative_parts("C:\\scans\\x.tif") == ("scans", "x")


def _sheets(root: Path) -> Path:
    for rel in ("inst_a/IMG_1.jpg", "inst_b/IMG_1.jpg", "leaf2.jpg", "leaf3.jpg"):
        write_sheet(root / rel, W, H)
    return root


def test_render_coco_matches_sheets_and_reports_the_rest(tmp_path):
    sheets = discover_sheets(_sheets(tmp_path / "sheets"))
    seg = [[0, 0, 10, 0, 10, 10, 0, 10]]
    ann = coco_file(
        tmp_path / "ann" / "export.json",
        [image(1, "inst_b/IMG_1.jpg"), image(2, "images/0a1b2c3d-leaf2.jpg"),
         image(3, "IMG_1.jpg"), image(4, "nowhere.jpg"), image(5, "leaf3.jpg")],
        [{"image_id": i, "category_id": 1, "segmentation": seg} for i in (1, 2, 3, 4, 5)],
    )  # fmt: skip
    (tmp_path / "ann" / "settings.json").write_text('{"theme": "dark"}')
    out = tmp_path / "out"
    out.mkdir()
    (out / "stale.png").write_bytes(b"old")
    found, problems = render_coco(
        sheets, tmp_path / "ann", out, categories=["leaf"], taken={"leaf3": "m/leaf3.png"}
    )
    assert found == {"inst_b__IMG_1": str(out / "inst_b__IMG_1.png"),
                     "leaf2": str(out / "leaf2.png")}  # fmt: skip
    assert (np.asarray(Image.open(found["leaf2"])) > 0).sum() == 100
    status = {p["path"].split("#")[-1]: p["status"] for p in problems}
    assert status == {
        str(tmp_path / "ann" / "settings.json"): "error",  # other JSON: listed, not parsed
        "IMG_1.jpg": "unmatched",  # two sheets share the stem: never guessed
        "nowhere.jpg": "unmatched",
        "leaf3.jpg": "duplicate",  # it already has a mask image
    }
    assert not (out / "stale.png").exists()
    assert coco.is_coco(ann) and not coco.is_coco(tmp_path / "ann" / "settings.json")


def test_ingest_points_the_manifest_at_rendered_masks(tmp_path):
    root = _sheets(tmp_path / "sheets")
    write_mask_file(tmp_path / "ann" / "leaf3_mask.png", W, H)
    coco_file(
        tmp_path / "ann" / "export.json",
        [image(1, "leaf2.jpg"), image(2, "inst_a/IMG_1.jpg")],
        [
            {"image_id": 1, "category_id": 1, "segmentation": [[0, 0, 10, 0, 10, 10, 0, 10]]},
            {"image_id": 2, "category_id": 1, "iscrowd": 1,
             "segmentation": uncompressed_rle(box(2, 2, 8, 8))},
        ],
    )  # fmt: skip
    out = tmp_path / "results" / "ingest"
    manifest, problems, _ = ingest(str(root), str(tmp_path / "ann"), out, log=lambda m: None)
    rows = manifest.set_index("sheet_id")
    assert rows.loc["leaf2", "mask_path"] == str(out / "coco_masks" / "leaf2.png")
    assert rows.loc["leaf3", "mask_path"].endswith("leaf3_mask.png")
    assert list(rows.index[rows["has_mask"]]) == ["inst_a__IMG_1", "leaf2", "leaf3"]
    assert problems.empty
    with pytest.raises(ValueError, match="coco_categories"):
        ingest(str(root), str(tmp_path / "ann" / "export.json"), out, coco_categories=["stem"],
               log=lambda m: None)  # fmt: skip
