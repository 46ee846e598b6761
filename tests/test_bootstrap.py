"""Annotation bootstrap: candidates as COCO, and back through ingest as training masks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from herbseg.io.coco import segmentation_mask
from herbseg.io.images import read_mask
from herbseg.measurement.metrics import confusion, scores
from herbseg.stages.bootstrap import (
    BootstrapSettings,
    build_coco,
    file_name_for,
    mask_polygons,
    select_sheets,
    sheets_root,
)
from herbseg.stages.ingest import ingest
from herbseg.synth.sheets import generate_sheet
from tests.helpers import drawn_sheet, run_snakemake


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return scores(*confusion(a, b))["iou"]


def test_select_sheets_draws_unannotated_ok_sheets_reproducibly():
    manifest = pd.DataFrame(
        {
            "sheet_id": [f"s{i:02d}" for i in range(20)],
            "status": ["ok"] * 18 + ["error", "duplicate"],
            "has_mask": ["True"] * 5 + ["False"] * 15,
        }
    )
    five = select_sheets(manifest, 5, seed=1)
    assert len(five) == 5 and list(five["sheet_id"]) == sorted(five["sheet_id"])
    assert set(five["sheet_id"]) <= {f"s{i:02d}" for i in range(5, 18)}
    assert five.equals(select_sheets(manifest.sample(frac=1, random_state=3), 5, seed=1))
    assert set(five["sheet_id"]) <= set(select_sheets(manifest, 8, seed=1)["sheet_id"])
    assert len(select_sheets(manifest, None, seed=1)) == 13


@pytest.mark.parametrize("scale", [1.0, 3.0])
def test_polygons_round_trip_a_sheet_mask(scale):
    """Leaves of a synthetic sheet: outlines rasterise back to the mask (IoU > 0.95)."""
    mask = generate_sheet(5, 600, 900, 100).mask
    polys = mask_polygons(mask, scale, tolerance_px=1.0)
    w, h = round(mask.shape[1] * scale), round(mask.shape[0] * scale)
    back = segmentation_mask(polys, h, w)
    truth = np.asarray(Image.fromarray(mask).resize((w, h), Image.NEAREST))
    assert iou(back, truth) > 0.95
    assert all(max(p[0::2]) <= w and max(p[1::2]) <= h for p in polys)


def test_min_area_and_exact_polygons():
    m = np.zeros((40, 40), bool)
    m[5:15, 5:25] = True
    m[30:32, 30:32] = True
    polys = mask_polygons(m, 1.0, tolerance_px=0.0, min_area_px=10)
    assert len(polys) == 1
    assert (segmentation_mask(polys, 40, 40) == (m & (np.arange(40)[:, None] < 20))).all()


def collection(root: Path) -> tuple[list[Path], dict[str, np.ndarray]]:
    """Three sheets in nested folders (two share a file name) and their candidate masks."""
    paths = [root / "sheets" / "box1" / "IMG_1.png", root / "sheets" / "box2" / "IMG_1.png",
             root / "sheets" / "c.png"]  # fmt: skip
    masks = {}
    for i, path in enumerate(paths):
        rgb, truth = drawn_sheet(10 + i)
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rgb).save(path)
        masks[str(path)] = truth
    masks[str(paths[2])] = np.zeros_like(truth)  # nothing found: the tool must still show it
    return paths, masks


@pytest.mark.parametrize("fmt", ["polygon", "rle"])
def test_candidates_go_back_through_ingest(tmp_path, fmt):
    paths, masks = collection(tmp_path)
    manifest, _, _ = ingest(str(tmp_path / "sheets"), None, tmp_path / "first", checksum=False,
                            log=lambda m: None)  # fmt: skip
    chosen = select_sheets(manifest, None, seed=0)
    root = sheets_root(tmp_path / "sheets", manifest["path"])
    settings = BootstrapSettings(format=fmt, tolerance_px=0.5, min_area_px=0)
    coco, table = build_coco(chosen, lambda row: masks[row["path"]], root, settings,
                             log=lambda m: None)  # fmt: skip
    assert sorted(i["file_name"] for i in coco["images"]) == [
        "box1/IMG_1.png", "box2/IMG_1.png", "c.png"]  # fmt: skip
    assert all((i["width"], i["height"]) == (300, 400) for i in coco["images"])
    assert table.set_index("file_name").loc["c.png", "n_annotations"] == 0
    export = tmp_path / "export.json"
    export.write_text(json.dumps(coco))

    again, problems, _ = ingest(str(tmp_path / "sheets"), str(export), tmp_path / "second",
                                checksum=False, log=lambda m: None)  # fmt: skip
    back = again.set_index("path")
    for path in paths[:2]:
        row = back.loc[str(path)]
        assert row["has_mask"]
        rendered = read_mask(row["mask_path"])
        assert iou(rendered, masks[str(path)]) > (0.999 if fmt == "rle" else 0.95)
    assert not back.loc[str(paths[2]), "has_mask"]  # an empty candidate is not an annotation
    assert "unannotated" in set(problems["status"])


def test_file_names_outside_the_root_fall_back_to_the_name(tmp_path):
    assert file_name_for(tmp_path / "a" / "b.jpg", tmp_path) == "a/b.jpg"
    assert file_name_for(Path("/elsewhere/b.jpg"), tmp_path) == "b.jpg"
    assert sheets_root("scans/*.jpg", ["scans/x/a.jpg", "scans/y/b.jpg"]) == Path("scans")


@pytest.mark.workflow
def test_workflow_baseline_and_bootstrap_without_training(tmp_path):
    """`baseline` and `bootstrap` (from the baseline) through Snakemake, no network trained."""
    for i in range(8):
        rgb, truth = drawn_sheet(20 + i)
        (tmp_path / "sheets").mkdir(exist_ok=True)
        Image.fromarray(rgb).save(tmp_path / "sheets" / f"sheet{i}.png")
        if i < 6:
            (tmp_path / "masks").mkdir(exist_ok=True)
            Image.fromarray(truth).save(tmp_path / "masks" / f"sheet{i}.png")
    config = {
        "sheets": "sheets",
        "annotations": "masks",
        "results": "results",
        "resize": {"size": 64},
        "model": {"encoder_weights": None},  # nothing is trained: no ImageNet weights needed
        "split": {"train": 0.5, "val": 0.17, "test": 0.33, "seed": 1},
        "ingest": {"checksum": False},
        "threads": {"ingest": 1, "resize": 1},
        "baseline": {"long_side": 400, "min_component_px": 30},
        "bootstrap": {"source": "baseline", "max_sheets": 5, "tolerance_px": 0.5},
    }
    run_snakemake(tmp_path, config, "results/baseline/summary.csv", "bootstrap")
    res = tmp_path / "results"
    summary = pd.read_csv(res / "baseline" / "summary.csv")
    assert list(summary.columns) == ["iou", "dice", "precision", "recall", "accuracy", "n_sheets"]
    assert summary["n_sheets"].iloc[0] == 2 and summary["iou"].iloc[0] > 0.8
    assert len(pd.read_csv(res / "baseline" / "per_sheet.csv")) == 2
    coco = json.loads((res / "bootstrap" / "candidates.json").read_text())
    assert sorted(i["file_name"] for i in coco["images"]) == ["sheet6.png", "sheet7.png"]
    assert coco["categories"][0]["name"] == "leaf" and coco["annotations"]
