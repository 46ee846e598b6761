"""Annotation QC: every fault kind is caught on a drawn sheet, a good mask passes, every mask gets
a row, and the real misregistered Violaceae mask (V04_01_017) is flagged."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
from PIL import Image
from scipy import ndimage as ndi

from herbseg.io.images import load_rgb, read_mask, write_mask
from herbseg.stages.annotation_qc import EXCLUDED, KEPT, QCSettings, annotation_qc, excluded_ids
from herbseg.stages.baseline import BaselineSettings, segment
from tests.helpers import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
from violaceae_register import place, register  # noqa: E402

W, H = 300, 420


def plant_sheet() -> tuple[np.ndarray, np.ndarray]:
    """Cream paper with two leaves and a stem; returns the sheet and its true plant mask."""
    rng = np.random.default_rng(0)
    rgb = np.full((H, W, 3), (236, 229, 208), np.float32)
    yy, xx = np.mgrid[:H, :W]
    truth = ((yy - 140) / 50) ** 2 + ((xx - 110) / 30) ** 2 <= 1
    truth |= ((yy - 250) / 45) ** 2 + ((xx - 190) / 28) ** 2 <= 1
    truth |= (abs(xx - 150) <= 2) & (yy > 120) & (yy < 380)
    rgb[truth] = (70, 115, 45)
    rgb += rng.normal(0, 3, rgb.shape)
    return rgb.clip(0, 255).astype(np.uint8), truth


def write_case(tmp_path, name: str, rgb: np.ndarray, mask: np.ndarray) -> dict:
    sheet, mpath = tmp_path / f"{name}.png", tmp_path / f"{name}_mask.png"
    Image.fromarray(rgb).save(sheet)
    write_mask(mpath, mask)
    return {"sheet_id": name, "path": str(sheet), "mask_path": str(mpath), "width": W,
            "height": H, "status": "ok", "has_mask": True}  # fmt: skip


def test_faults_are_excluded_with_reasons_and_a_good_mask_passes(tmp_path):
    rgb, truth = plant_sheet()
    block = truth.copy()
    block[20:120, 200:290] = True  # a block of empty paper, as a misregistered mask has
    wide = np.asarray(Image.fromarray(truth.astype(np.uint8) * 255).resize((W + 60, H))) > 127
    yy = np.mgrid[:H, :W][0]
    strokes = truth & ~((yy // 12) % 2 == 1)  # painted in bands: half of every blade left out
    cases = {
        "good": truth,
        "coarse": ndi.binary_dilation(truth, iterations=4),  # drawn generously, still right
        "empty": np.zeros_like(truth),
        "full": np.ones_like(truth),
        "inverted": ~truth,
        "shifted": np.roll(truth, (60, 70), axis=(0, 1)),
        "paper_block": block,
        "aspect": wide,
        "strokes": strokes,
        "one_px_short": ndi.binary_erosion(truth, iterations=1),  # a registration residual
    }  # fmt: skip
    rows = [write_case(tmp_path, k, rgb, m) for k, m in cases.items()]
    rows.append({"sheet_id": "unannotated", "path": rows[0]["path"], "mask_path": "",
                 "width": W, "height": H, "status": "ok", "has_mask": False})  # fmt: skip
    broken = write_case(tmp_path, "broken", rgb, truth)
    rows.append(broken | {"mask_path": str(tmp_path / "no.png")})
    table = annotation_qc(
        pd.DataFrame(rows), QCSettings(mask_class="plant", overlays=3), tmp_path / "ov", log=print
    ).set_index("sheet_id")
    # one row per annotated mask, the unannotated sheet has none
    assert sorted(table.index) == sorted(list(cases) + ["broken"])
    assert table.loc["good", "status"] == KEPT and table.loc["good", "score"] > 0.9
    assert table.loc["coarse", "status"] == KEPT
    assert table.loc["one_px_short", "status"] == KEPT
    assert table.loc["one_px_short", "unmarked"] < 0.05
    faults = [("empty", "empty"), ("full", "full"), ("inverted", "inverted"),
              ("shifted", "paper"), ("paper_block", "paper"), ("broken", "unreadable"),
              ("strokes", "unmarked (painted in strokes")]  # fmt: skip
    for fault, words in faults:
        assert table.loc[fault, "status"] == EXCLUDED, fault
        assert words in table.loc[fault, "reason"], (fault, table.loc[fault, "reason"])
    assert "aspect" in table.loc["aspect", "reason"]
    # every excluded mask has a reason; excluded_ids is what split leaves out
    assert (table.loc[table["status"] == EXCLUDED, "reason"].str.len() > 0).all()
    assert excluded_ids(table.reset_index()) == set(table.index[table["status"] == EXCLUDED])
    drawn = sorted(p.name for p in (tmp_path / "ov").iterdir())
    assert len(drawn) == 3 and drawn[0].startswith("01_")


def test_leaf_masks_are_not_blamed_for_leaving_out_stems(tmp_path):
    rgb, truth = plant_sheet()
    yy, xx = np.mgrid[:H, :W]
    leaves = truth & ~((abs(xx - 150) <= 2) & (yy > 120))
    row = write_case(tmp_path, "leaves", rgb, leaves)
    leaf = annotation_qc(pd.DataFrame([row]), QCSettings(mask_class="leaf", overlays=0), log=print)
    assert leaf.loc[0, "status"] == KEPT and leaf.loc[0, "score"] > 0.9


def registered_violaceae(data, stem: str, tmp_path) -> dict:
    """The manifest row of a Violaceae sheet with its mask registered onto it, as
    ``benchmarks/violaceae_register.py`` writes it."""
    rgb = load_rgb(data / "images" / stem[:3] / f"{stem}.jpg")
    h, w = rgb.shape[:2]
    shipped = read_mask(data / "masks" / f"{stem}_mask.jpg")
    proxy = segment(rgb, BaselineSettings(method="otsu"), out_size=(160, round(160 * h / w)))
    t, _, _ = register(shipped, proxy)
    return write_case(tmp_path, stem, rgb, place(shipped, w, h, t)) | {"width": w, "height": h}


def test_misregistered_violaceae_mask_is_flagged(shared_data, tmp_path):
    """V04_01_017's registered mask covers a block of empty paper: QC must exclude it."""
    row = registered_violaceae(shared_data / "violaceae", "V04_01_017", tmp_path)
    qc = annotation_qc(pd.DataFrame([row]), QCSettings(mask_class="plant", overlays=1), tmp_path)
    assert qc.loc[0, "status"] == EXCLUDED, qc.loc[0].to_dict()
    assert "paper" in qc.loc[0, "reason"]


def test_a_violaceae_mask_painted_in_strokes_is_flagged_and_a_full_one_is_not(
    shared_data, tmp_path
):
    """V01_02_489's mask leaves a quarter of the blades it touches unmarked (looked at: strokes
    inside the leaves); V02_04_004's marks its blades whole. Neither mask is on paper."""
    data = shared_data / "violaceae"
    rows = [registered_violaceae(data, s, tmp_path) for s in ("V01_02_489", "V02_04_004")]
    qc = annotation_qc(pd.DataFrame(rows), QCSettings(mask_class="plant", overlays=0))
    strokes, whole = qc.set_index("sheet_id").loc[["V01_02_489", "V02_04_004"]].to_dict("records")
    assert strokes["status"] == EXCLUDED and "painted in strokes" in strokes["reason"], strokes
    assert strokes["on_paper"] < 0.05 and strokes["unmarked"] > 0.2
    assert whole["status"] == KEPT and whole["unmarked"] < 0.05, whole
