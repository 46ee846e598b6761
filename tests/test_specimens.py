"""Specimen keys on the result tables, the per-specimen roll-up, and pixel traits without scale."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from herbseg.io.images import write_mask
from herbseg.stages.measure import MasksMissing, MeasureSettings, measure_shard
from herbseg.stages.specimens import rollup, with_keys
from tests.helpers import write_sheet


def test_keys_join_beside_sheet_id_and_blank_for_sheetless_rows():
    manifest = pd.DataFrame(
        {"sheet_id": ["a", "b"], "path": ["a.jpg", "b.jpg"], "catalogNumber": ["0007", "K2"],
         "occurrenceID": ["urn:1", "urn:2"], "taxon": ["Viola", "Viola"]}
    )  # fmt: skip
    problems = pd.DataFrame({"kind": ["sheet", "annotation"], "sheet_id": ["b", ""]})
    out = with_keys(problems, manifest)
    assert list(out.columns) == ["kind", "sheet_id", "occurrenceID", "catalogNumber"]
    assert out.loc[0, "catalogNumber"] == "K2" and out.loc[1, "occurrenceID"] == ""


def test_rollup_sums_area_and_takes_the_median_of_intact_leaves():
    sheets = pd.DataFrame(
        {"sheet_id": ["s1", "s2", "s3", "s4"], "status": ["ok", "ok", "ok", "error"],
         "occurrenceID": ["o1", "o1", "o2", "o2"], "catalogNumber": ["C1", "C1", "C2", "C2"],
         "leaf_area_mm2": [100.0, 50.0, np.nan, np.nan], "n_leaves": [2, 1, 3, np.nan],
         "n_intact": [2, 1, 1, np.nan]}
    )  # fmt: skip
    leaves = pd.DataFrame(
        {"sheet_id": ["s1", "s1", "s2", "s3"], "intact": [True, True, True, False],
         "area_mm2": [10.0, 30.0, 50.0, 99.0], "length_mm": [1.0, 2.0, 9.0, 5.0],
         "width_mm": [1.0, 1.0, 1.0, 1.0]}
    )  # fmt: skip
    out = rollup(sheets, leaves).set_index("specimen")
    assert list(out.index) == ["o1", "o2"] and set(out["specimen_key"]) == {"occurrenceID"}
    assert out.loc["o1", "leaf_area_mm2"] == 150.0 and out.loc["o1", "n_leaves"] == 3
    assert out.loc["o1", "median_intact_leaf_area_mm2"] == 30.0  # of 10, 30, 50, not of medians
    assert out.loc["o1", "sheet_ids"] == "s1;s2" and out.loc["o1", "catalogNumber"] == "C1"
    assert out.loc["o2", "n_sheets"] == 2 and out.loc["o2", "n_measured"] == 1
    assert out.loc["o2", "n_sheets_without_scale"] == 1 and np.isnan(out.loc["o2", "leaf_area_mm2"])


@pytest.mark.parametrize("dpi", [None, 254])
def test_pixel_traits_stay_when_a_sheet_has_no_scale(tmp_path, dpi):
    sheet = write_sheet(tmp_path / "s.png", 200, 300, dpi=dpi, fmt="PNG")
    mask = np.zeros((150, 100), np.uint8)  # written at half size: px columns come back x2
    mask[30:70, 20:60] = 1
    write_mask(tmp_path / "m.png", mask)
    rows = pd.DataFrame(
        [{"sheet_id": "s", "path": str(sheet), "status": "ok", "error": "", "width": 200,
          "height": 300, "dpi_x": dpi or "", "dpi_y": dpi or "", "shard": "c00000"}]
    )  # fmt: skip
    preds = pd.DataFrame([{"sheet_id": "s", "status": "ok", "error": "",
                           "mask_path": str(tmp_path / "m.png")}])  # fmt: skip
    settings = MeasureSettings(min_leaf_px=20, ruler=False, exclude_edge=False)
    sheets, leaves = measure_shard(rows, preds, settings=settings, log=lambda m: None)
    leaf = leaves.iloc[0]
    assert leaf["area_px"] == 80 * 80
    assert leaf["length_px"] == pytest.approx(80 * 2**0.5, rel=0.05)  # a square: its diagonal
    assert leaf["width_px"] == pytest.approx(80 * 2**0.5, rel=0.05)  # across that diagonal
    assert leaf["perimeter_px"] == pytest.approx(320, rel=0.1)
    if dpi is None:
        assert np.isnan(leaf["length_mm"]) and sheets.loc[0, "scale_source"] == "none"
    else:  # 10 px per mm
        assert leaf["length_mm"] == pytest.approx(leaf["length_px"] / 10)


def test_masks_removed_under_a_finished_predict_stop_measure(tmp_path):
    """A crash during a forced predict leaves its table but not its masks: measure must stop with
    what to do, not turn every sheet into a silent error row."""
    sheet = write_sheet(tmp_path / "s.png", 200, 300, fmt="PNG")
    rows = pd.DataFrame(
        [{"sheet_id": "s", "path": str(sheet), "status": "ok", "error": "", "width": 200,
          "height": 300, "dpi_x": "", "dpi_y": "", "shard": "c00000"}]
    )  # fmt: skip
    preds = pd.DataFrame([{"sheet_id": "s", "status": "ok", "error": "",
                           "mask_path": str(tmp_path / "gone.png")}])  # fmt: skip
    with pytest.raises(MasksMissing, match=r"1 of 1 masks .* --forcerun predict"):
        measure_shard(rows, preds, settings=MeasureSettings(ruler=False), log=lambda m: None)
    failed = preds.assign(status="error", error="unreadable sheet")  # not reported: no stop
    sheets, _ = measure_shard(rows, failed, settings=MeasureSettings(ruler=False), log=print)
    assert sheets.loc[0, "status"] == "error"


def test_measure_threads_give_the_same_tables_in_order(tmp_path):
    """Sheets measured in parallel threads come back in input order with the same values;
    an error row keeps its place."""
    rng = np.random.default_rng(0)
    rows, preds = [], []
    for i in range(7):
        sheet = write_sheet(tmp_path / f"s{i}.png", 120, 160, dpi=254, fmt="PNG")
        mask = np.zeros((160, 120), np.uint8)
        for _ in range(3):
            y, x = rng.integers(10, 130), rng.integers(10, 90)
            mask[y : y + 20, x : x + 15] = 1
        write_mask(tmp_path / f"m{i}.png", mask)
        rows.append(
            {
                "sheet_id": f"s{i}",
                "path": str(sheet),
                "status": "ok",
                "error": "",
                "width": 120,
                "height": 160,
                "dpi_x": 254,
                "dpi_y": 254,
                "shard": "c0",
            }
        )
        preds.append({"sheet_id": f"s{i}", "status": "ok", "error": "",
                      "mask_path": str(tmp_path / f"m{i}.png")})  # fmt: skip
    preds[3] = {**preds[3], "status": "error", "error": "frame unreadable: test"}
    rows, preds = pd.DataFrame(rows), pd.DataFrame(preds)
    settings = MeasureSettings(min_leaf_px=20, ruler=False, exclude_edge=False)
    one = measure_shard(rows, preds, settings=settings, log=lambda m: None, threads=1)
    three = measure_shard(rows, preds, settings=settings, log=lambda m: None, threads=3)
    pd.testing.assert_frame_equal(one[0], three[0])
    pd.testing.assert_frame_equal(one[1], three[1])
    assert list(three[0]["sheet_id"]) == [f"s{i}" for i in range(7)]
    assert three[0].loc[3, "status"] == "error" and len(three[1]) > 0
