"""One file per format and failure people meet, through the real workflow: nothing is lost.

The zoo is generated here (no binaries are committed): every sheet file must come out of the
workflow once, either measured or with the reason why not, and every annotation either used or
listed in problems.csv.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile
from PIL import Image
from pycocotools import mask as mask_utils

from tests.helpers import TINY, check_measurements_match, png16_rgb, read_dwc_archive, run_snakemake

pytestmark = pytest.mark.workflow

W, H = 120, 180
MAX_MP = 0.05  # the zoo's sheets are 0.02 MP; "huge" is 0.09 MP


def sheet_array(seed: int = 0, w: int = W, h: int = H) -> np.ndarray:
    """Cream paper with one green leaf, like conftest.write_sheet, as an array to save any way."""
    rng = np.random.default_rng(seed)
    arr = np.full((h, w, 3), (235, 228, 205), np.uint8)
    arr[h // 4 : h // 2, w // 4 : w // 2] = (60, 120, 50)
    return (arr + rng.integers(0, 8, arr.shape)).clip(0, 255).astype(np.uint8)


def save(path: Path, im: Image.Image, **kw) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path, **kw)
    return path


def cut(path: Path, data: bytes, keep: float = 0.6) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data[: int(len(data) * keep)])


def leaf_mask(w: int = W, h: int = H) -> np.ndarray:
    m = np.zeros((h, w), bool)
    m[h // 4 : h // 2, w // 4 : w // 2] = True
    return m


def build_sheets(root: Path) -> dict[str, tuple[str, str]]:
    """Write the zoo's sheet files; returns ``sheet_id → (status, error prefix)``."""
    rgb = sheet_array()
    im = Image.fromarray(rgb)
    exif = Image.Exif()
    exif[0x0112] = 6  # stored landscape, shown portrait
    save(root / "jpeg/baseline.jpg", im, quality=90, dpi=(300, 300))
    save(root / "jpeg/progressive.jpg", im, quality=90, progressive=True, dpi=(300, 300))
    save(root / "jpeg/grey.jpg", im.convert("L"), quality=90)
    save(root / "jpeg/cmyk.jpg", im.convert("CMYK"), quality=90)
    save(root / "jpeg/exif_rotated.jpg", im.transpose(Image.Transpose.ROTATE_90), exif=exif)
    save(root / "upper/SCAN.JPG", im, quality=90)
    save(root / "inst_a/IMG_0001.jpg", Image.fromarray(sheet_array(1)), quality=90)
    save(root / "inst_b/IMG_0001.jpg", Image.fromarray(sheet_array(2)), quality=90)
    save(root / "png/rgba.png", im.convert("RGBA"))
    save(root / "png/palette.png", im.convert("P", palette=Image.Palette.ADAPTIVE))
    save(root / "png/grey16.png", Image.fromarray(rgb[..., 1].astype(np.uint16) * 257))
    png16_rgb(root / "png/rgb16.png", rgb.astype(np.uint16) * 257)
    save(root / "tiff/lzw8.tif", im, compression="tiff_lzw")
    save(root / "tiff/deflate8.tif", im, compression="tiff_adobe_deflate")
    save(root / "tiff/lzw16.tif", Image.fromarray(rgb[..., 1].astype(np.uint16) * 257),
         compression="tiff_lzw")  # fmt: skip
    tifffile.imwrite(root / "tiff/deflate16.tif", rgb.astype(np.uint16) * 257,
                     photometric="rgb", compression="zlib")  # fmt: skip
    save(root / "tiff/multipage.tif", im, save_all=True,
         append_images=[Image.new("RGB", (30, 30))], compression="tiff_lzw")  # fmt: skip
    save(root / "tiff/rotated.tif", im.transpose(Image.Transpose.ROTATE_90), tiffinfo={274: 6},
         compression="tiff_lzw")  # fmt: skip
    save(root / "webp/sheet.webp", im, quality=90)
    save(root / "dup/leaf.jpg", im, quality=90)
    save(root / "dup/leaf.png", im)  # same id as dup/leaf.jpg: a duplicate, never merged
    full_jpg = (root / "jpeg/baseline.jpg").read_bytes()
    cut(root / "bad/truncated_jpeg.jpg", full_jpg)
    cut(root / "bad/truncated_png.png", (root / "png/rgba.png").read_bytes())
    cut(root / "bad/truncated_tiff.tif", (root / "tiff/deflate8.tif").read_bytes())
    cut(root / "bad/truncated_webp.webp", (root / "webp/sheet.webp").read_bytes())
    (root / "bad/empty.jpg").write_bytes(b"")
    (root / "bad/text.jpg").write_text("this is a note, not a scan")
    save(root / "bad/huge.png", Image.new("RGB", (300, 300), (230, 225, 200)))
    (root / "notes.txt").write_text("not a sheet: its extension is not configured")
    ok = [
        "jpeg__baseline", "jpeg__progressive", "jpeg__grey", "jpeg__cmyk", "jpeg__exif_rotated",
        "upper__SCAN", "inst_a__IMG_0001", "inst_b__IMG_0001", "png__rgba", "png__palette",
        "png__grey16", "png__rgb16", "tiff__lzw8", "tiff__deflate8", "tiff__lzw16",
        "tiff__deflate16", "tiff__multipage", "tiff__rotated", "webp__sheet", "dup__leaf",
    ]  # fmt: skip
    expected = {sid: ("ok", "") for sid in ok}
    expected |= {
        **{f"bad__truncated_{k}": ("error", "truncated") for k in ("jpeg", "png", "tiff", "webp")},
        "bad__empty": ("error", "empty file"),
        "bad__text": ("error", "unsupported format"),
        "bad__huge": ("error", "too large"),
    }
    return expected


def build_annotations(root: Path) -> None:
    """Masks for six sheets in every form people hand over, plus ones that match nothing."""
    full = leaf_mask()
    save(
        root / "baseline_mask.jpg",
        Image.fromarray(np.where(full, 255, 0).astype(np.uint8)),
        quality=75,
    )  # fmt: skip  (lossy 0/255)
    half = leaf_mask(W // 2, H // 2)
    save(root / "progressive_mask.png", Image.fromarray(half.astype(np.uint8)))  # 0/1, smaller
    square = leaf_mask(90, 90)  # squashed: another aspect ratio than its sheet
    save(root / "exif_rotated_mask.png", Image.fromarray(square.astype(np.uint8) * 255))
    save(root / "IMG_0001_mask.png", Image.fromarray(full.astype(np.uint8) * 255))  # two sheets
    save(root / "inst_a/IMG_0001_mask.png", Image.fromarray(full.astype(np.uint8) * 255))
    save(root / "orphan_mask.png", Image.fromarray(full.astype(np.uint8) * 255))
    rle = mask_utils.encode(np.asfortranarray(full.astype(np.uint8)))
    coco = {
        "images": [
            {"id": 1, "file_name": "png/rgba.png", "width": W, "height": H},
            {"id": 2, "file_name": "images/3f2a1b4c-lzw8.tif", "width": W, "height": H},
            {"id": 3, "file_name": "elsewhere/nowhere.jpg", "width": W, "height": H},
            {"id": 4, "file_name": "webp/sheet.webp", "width": W, "height": H},
        ],
        "categories": [{"id": 1, "name": "Leaf"}, {"id": 2, "name": "ruler"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 0,
             "segmentation": [[30, 45, 60, 45, 60, 90, 30, 90]]},
            {"id": 2, "image_id": 1, "category_id": 2, "iscrowd": 0,
             "segmentation": [[0, 0, 10, 0, 10, 10, 0, 10]]},
            {"id": 3, "image_id": 2, "category_id": 1, "iscrowd": 1,
             "segmentation": {"size": [H, W], "counts": rle["counts"].decode()}},
            {"id": 4, "image_id": 3, "category_id": 1, "iscrowd": 0,
             "segmentation": [[1, 1, 20, 1, 20, 20]]},
        ],
    }  # fmt: skip
    (root / "coco.json").write_text(json.dumps(coco))


@pytest.fixture(scope="module")
def zoo_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("zoo")
    expected = build_sheets(work / "sheets")
    build_annotations(work / "masks")
    config = {
        **TINY,
        "sheets": "sheets",
        "annotations": "masks",
        "results": "results",
        "ingest": {"max_megapixels": MAX_MP},
    }
    # the stages this issue is about (ingest → … → aggregate, and evaluate, which reads the
    # rendered COCO masks as truth) and the Darwin Core export of what came out; reports and
    # bundles of a run are other tests' business
    proc = run_snakemake(
        work, config, "results/leaf_area.csv", "results/evaluate/summary.csv",
        "results/dwc/measurementorfact.txt",
    )  # fmt: skip
    return work, expected, proc


def _csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def test_every_file_is_in_the_manifest_once_with_its_status(zoo_run):
    work, expected, proc = zoo_run
    assert proc.returncode == 0
    manifest = _csv(work / "results/ingest/manifest.csv")
    files = sorted(
        str(p.relative_to(work)) for p in (work / "sheets").rglob("*") if p.suffix != ".txt"
    )
    files = [f for f in files if Path(work / f).is_file()]
    assert sorted(manifest["path"]) == files  # every file once, nothing else
    by_path = manifest.set_index("path")
    first = manifest.drop_duplicates("sheet_id").set_index("sheet_id")
    assert set(first.index) == set(expected)
    for sid, (status, reason) in expected.items():
        assert first.loc[sid, "status"] == status, (sid, first.loc[sid, "error"])
        assert first.loc[sid, "error"].startswith(reason), (sid, first.loc[sid, "error"])
    dup = by_path.loc["sheets/dup/leaf.png"]
    assert dup["status"] == "duplicate" and "sheets/dup/leaf.jpg" in dup["error"]
    assert manifest["sha256"].str.fullmatch("[0-9a-f]{64}").all()  # unusable files too


def test_formats_decode_upright_and_in_their_own_geometry(zoo_run):
    work, _, _ = zoo_run
    manifest = _csv(work / "results/ingest/manifest.csv")
    ok = manifest[manifest["status"] == "ok"]
    assert set(ok["width"]) == {str(W)} and set(ok["height"]) == {str(H)}  # EXIF applied
    modes = ok.set_index("sheet_id")["mode"]
    assert modes["jpeg__cmyk"] == "CMYK" and modes["tiff__deflate16"] == "RGB;16"
    assert modes["png__grey16"].startswith("I;16") and modes["png__palette"] == "P"
    resize = pd.concat(_csv(p) for p in (work / "results/resize").glob("*/resize.csv"))
    frames = resize[resize["status"] == "ok"].set_index("sheet_id")
    assert sorted(frames.index) == sorted(ok["sheet_id"])
    ref = np.asarray(Image.open(work / frames.loc["png__rgba", "frame_path"]), dtype=float)
    for sid in ok["sheet_id"]:
        frame = np.asarray(Image.open(work / frames.loc[sid, "frame_path"]), dtype=float)
        if sid in ("png__grey16", "jpeg__grey", "tiff__lzw16"):
            frame = frame.mean(axis=2, keepdims=True)
            assert np.abs(frame - ref[..., 1:2]).mean() < 12, sid  # the green channel
        elif not sid.startswith("inst_"):
            assert np.abs(frame - ref).mean() < 12, sid  # same picture, upright, 8-bit scaled


def test_masks_and_coco_are_used_and_problems_listed(zoo_run):
    work, expected, _ = zoo_run
    manifest = _csv(work / "results/ingest/manifest.csv").set_index("sheet_id")
    annotated = set(manifest.index[manifest["has_mask"] == "True"])
    assert annotated == {"jpeg__baseline", "jpeg__progressive", "jpeg__exif_rotated",
                         "inst_a__IMG_0001", "png__rgba", "tiff__lzw8"}  # fmt: skip
    coco_mask = manifest.loc["png__rgba", "mask_path"]
    assert coco_mask == "results/ingest/coco_masks/png__rgba.png"
    rendered = np.asarray(Image.open(work / coco_mask)) > 0
    assert (
        rendered.shape == (H, W) and rendered[45:90, 30:60].all() and not rendered[:10, :10].any()
    )
    rle_mask = np.asarray(Image.open(work / manifest.loc["tiff__lzw8", "mask_path"])) > 0
    assert (rle_mask == leaf_mask()).all()
    problems = _csv(work / "results/ingest/problems.csv")
    notes = problems[problems["kind"] == "annotation"].set_index("path")
    assert notes.loc["masks/orphan_mask.png", "status"] == "unmatched"
    assert notes.loc["masks/coco.json#elsewhere/nowhere.jpg", "status"] == "unmatched"
    assert notes.loc["masks/coco.json#webp/sheet.webp", "status"] == "unannotated"
    # a stem shared by two sheets is ambiguous; the relative-path mask is taken
    assert notes.loc["masks/IMG_0001_mask.png", "status"] == "unmatched"
    squashed = notes.loc["masks/exif_rotated_mask.png"]
    assert squashed["status"] == "aspect_mismatch" and "used anyway" in squashed["error"]
    assert "1.000" in squashed["error"] and "0.667" in squashed["error"]
    sheets = problems[problems["kind"] == "sheet"]
    failed = {sid for sid, (status, _) in expected.items() if status != "ok"}
    assert set(sheets["sheet_id"]) == failed | {"dup__leaf"}
    log = (work / "results/logs/ingest.log").read_text()
    assert "found 28, ok 20, error 7, duplicate 1" in log
    # notes.txt is not taken, and says so (nothing skipped in silence)
    skipped = problems[problems["kind"] == "skipped"]
    assert list(skipped["error"]) == ["1 file .txt not taken as sheets (not in ingest.extensions)"]
    assert "not taken as sheets (1 files): 1 .txt" in log


def test_every_manifest_row_reaches_leaf_area(zoo_run):
    work, expected, _ = zoo_run
    manifest = _csv(work / "results/ingest/manifest.csv")
    area = _csv(work / "results/leaf_area.csv")
    assert len(area) == len(manifest)  # rows in = rows out
    assert list(zip(area["sheet_id"], area["path"])) == list(
        zip(manifest["sheet_id"], manifest["path"])
    )
    assert (area["status"] == manifest["status"]).all()
    assert (area["error"] == manifest["error"]).all()
    ok = area[area["status"] == "ok"]
    assert len(ok) == sum(s == "ok" for s, _ in expected.values())
    assert (ok["leaf_px"] != "").all() and (ok["leaf_fraction"] != "").all()
    for count in ("leaf_px", "n_leaves", "n_intact", "width", "height"):  # not "2.0" beside errors
        assert ok[count].str.fullmatch(r"\d+").all(), count
    specimens = _csv(work / "results/specimens.csv")
    measured = specimens[specimens["n_measured"] != "0"]
    for count in ("n_leaves", "n_intact"):  # the roll-up's sums, too
        assert measured[count].str.fullmatch(r"\d+").all(), count
    assert (area.loc[area["status"] != "ok", "leaf_area_mm2"] == "").all()


def test_the_darwin_core_export_holds_every_measured_sheet_and_no_failed_one(zoo_run):
    """Without identifier columns each sheet is its own occurrence: every sheet the zoo measured
    has its rows, read back with python-dwca-reader, values equal to leaf_area.csv; the error
    rows (corrupt, truncated, too large, …) have none."""
    work, _, _ = zoo_run
    area = _csv(work / "results/leaf_area.csv")
    core, facts = read_dwc_archive(work / "results/dwc")
    ok = set(area.loc[area["status"] == "ok", "sheet_id"])
    assert set(core["id"]) == set(facts["coreid"]) == ok
    check_measurements_match(facts, area, "sheet_id")
