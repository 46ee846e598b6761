"""The Darwin Core MeasurementOrFact export, read back with a third-party reader
(python-dwca-reader) and joined to the input occurrence rows."""

from __future__ import annotations

import pandas as pd
import pytest
from dwca.read import DwCAReader

from herbseg.io.dwca import MOF_ROW_TYPE, write_archive
from herbseg.stages.dwc_export import measurements
from tests.helpers import (
    DWC,
    META,
    TINY,
    check_measurements_match,
    read_dwc_archive,
    run_snakemake,
    write_mask_file,
    write_sheet,
)


def _sheets() -> tuple[pd.DataFrame, pd.DataFrame]:
    sheets = pd.DataFrame(
        {"sheet_id": ["1__a", "1__b", "2__c", "3__d"], "gbifID": ["1", "1", "2", "3"],
         "catalogNumber": ["K1", "K1", "K2", "K3"], "status": ["ok", "ok", "ok", "error"],
         "leaf_area_mm2": ["100.5", "50", "", ""], "n_leaves": ["2", "1", "3", ""],
         "n_intact": ["2", "1", "0", ""], "median_intact_leaf_area_mm2": ["40", "50", "", ""],
         "median_intact_leaf_length_mm": ["8", "9", "", ""], "px_per_mm": ["10", "10", "", ""],
         "scale_source": ["ruler", "dpi", "none", ""], "scale_confidence": ["0.9", "", "", ""]}
    )  # fmt: skip
    leaves = pd.DataFrame(
        {"sheet_id": ["1__a", "1__a", "1__b", "2__c"], "intact": ["True", "True", "True", "False"],
         "area_mm2": ["30", "50", "50", ""], "length_mm": ["7", "9", "9", ""],
         "width_mm": ["2", "3", "4", ""]}
    )  # fmt: skip
    return sheets, leaves


def test_one_row_per_occurrence_and_measurementread_dwc_archive(tmp_path):
    sheets, leaves = _sheets()
    mof, core, link = measurements(sheets, leaves, model_sha="ab" * 32, determined="2026-11-29")
    write_archive(tmp_path, core, {"measurementorfact.txt": (MOF_ROW_TYPE, mof)})
    assert link == "gbifID"
    got_core, facts = read_dwc_archive(tmp_path)
    assert list(got_core["id"]) == ["1", "2"]  # occurrence 3 has no measured sheet
    assert list(got_core["catalogNumber"]) == ["K1", "K2"]
    assert not facts.duplicated(["coreid", "measurementType"]).any()
    value = facts.set_index(["coreid", "measurementType"])["measurementValue"]
    assert value["1", "leaf area"] == "150.5"  # summed over the occurrence's two sheets
    assert value["1", "leaf count"] == "3"
    assert value["1", "median intact leaf area"] == "50"  # of its leaves 30, 50, 50
    assert value["2", "leaf count"] == "3" and ("2", "leaf area") not in value.index  # no scale
    one = facts.iloc[0]
    assert one["measurementUnit"] == "mm²" and one["measurementDeterminedDate"] == "2026-11-29"
    assert "herbseg" in one["measurementMethod"] and "ab" * 32 in one["measurementMethod"]
    assert "1__a: scale from ruler, confidence 0.90" in one["measurementRemarks"]
    assert facts["measurementID"].is_unique


@pytest.fixture(scope="module")
def archive_run(tmp_path_factory):
    """The real workflow on an unpacked GBIF-style archive: occurrence 100 has two images, and
    occurrence 500's image was never downloaded."""
    work = tmp_path_factory.mktemp("dwc_run")
    media, masks, arch = work / "media", work / "masks", work / "dwca"
    images = [("100", "a"), ("100", "b"), ("200", "c"), ("300", "d"), ("400", "e")]
    for i, (_, name) in enumerate(images):
        write_sheet(media / f"{name}.jpg", 120, 180, dpi=300, seed=i)
        write_mask_file(masks / f"{name}_mask.png", 120, 180)
    arch.mkdir()
    (arch / "meta.xml").write_text(META)
    (arch / "metadata.xml").write_text('<eml:eml xmlns:eml="eml://ecoinformatics.org/eml-2.1.1"/>')
    (arch / "occurrence.txt").write_text(
        "gbifID\tcatalogNumber\tscientificName\n100\t0001\tViola alba\n200\t0002\tViola b\n"
        "300\t0003\tViola c\n400\t0004\tViola d\n500\t0005\tViola e\n"
    )
    (arch / "multimedia.txt").write_text(
        "".join(f"{occ}\tStillImage\thttps://ex.org/{n}.jpg\n" for occ, n in images)
        + "500\tStillImage\thttps://ex.org/missing.jpg\n"
    )
    config = {**TINY, "sheets": "dwca", "annotations": "masks", "results": "results",
              "ingest": {"media_root": "media"}}  # fmt: skip
    run_snakemake(work, config, "results/dwc/measurementorfact.txt", "results/evaluate/summary.csv")
    return work


@pytest.mark.workflow
def test_every_result_table_carries_the_specimen_keys(archive_run):
    res = archive_run / "results"
    read = {"dtype": str, "keep_default_na": False}
    for table in ("leaf_area.csv", "leaf_traits.csv", "evaluate/per_sheet.csv",
                  "ingest/problems.csv", "specimens.csv"):  # fmt: skip
        frame = pd.read_csv(res / table, **read)
        assert {"gbifID", "catalogNumber"} <= set(frame.columns), table
    traits = pd.read_csv(res / "leaf_traits.csv", **read)
    assert list(traits.columns[:4]) == ["sheet_id", "gbifID", "catalogNumber", "coreid"]
    assert set(traits["catalogNumber"]) <= {"0001", "0002", "0003", "0004"}  # text kept
    specimens = pd.read_csv(res / "specimens.csv", **read).set_index("specimen")
    assert specimens.loc["100", "n_sheets"] == "2" and specimens.loc["100", "sheet_ids"] == (
        "100__a;100__b"
    )


@pytest.mark.workflow
def test_catalogue_numbers_reach_leaf_area_end_to_end(archive_run):
    """Identifiers of the occurrence records survive, for measured sheets and for the row whose
    image is missing, with their text intact (leading zeros)."""
    res = archive_run / "results"
    read = {"dtype": str, "keep_default_na": False}
    manifest = pd.read_csv(res / "ingest" / "manifest.csv", **read)
    area = pd.read_csv(res / "leaf_area.csv", **read)
    assert len(area) == len(manifest) == 6
    assert int(manifest["has_mask"].eq("True").sum()) == 5
    assert list(area["gbifID"]) == ["100", "100", "200", "300", "400", "500"]
    assert list(area["catalogNumber"]) == ["0001", "0001", "0002", "0003", "0004", "0005"]
    missing = area.set_index("sheet_id").loc["500__missing"]
    assert missing["status"] == "error" and missing["error"].startswith("not found locally")
    assert (area["status"] == ["ok"] * 5 + ["error"]).all()


@pytest.mark.workflow
def test_workflow_archive_joins_the_input_occurrences_with_leaf_area_values(archive_run):
    work = archive_run
    area = pd.read_csv(work / "results/leaf_area.csv", dtype=str, keep_default_na=False)
    got_core, facts = read_dwc_archive(work / "results/dwc")
    with DwCAReader(str(work / "dwca")) as source:
        inputs = {row.id: row.data for row in source}
    assert set(got_core["id"]) <= set(inputs)  # every occurrence links to an input record
    for _, row in got_core.iterrows():
        assert row["catalogNumber"] == inputs[row["id"]][DWC + "catalogNumber"]
    check_measurements_match(facts, area, "gbifID")
    assert "100" in set(facts["coreid"])  # the occurrence imaged on two sheets, summed


def test_without_identifiers_sheets_are_the_occurrences(tmp_path):
    sheets, leaves = _sheets()
    sheets = sheets.drop(columns=["gbifID", "catalogNumber"])
    mof, core, link = measurements(sheets, leaves, model_sha="0" * 64)
    assert link == "sheet_id" and list(core["id"]) == ["1__a", "1__b", "2__c"]
    value = mof.set_index(["coreid", "measurementType"])["measurementValue"]
    assert value["1__a", "leaf area"] == "100.5" and value["1__b", "leaf area"] == "50"
