"""The measurements as a Darwin Core Archive a collection can publish (stage dwc_export).

One MeasurementOrFact row per (occurrence, measurement), linked to its occurrence by the core id
(``coreid``): a GBIF download's gbifID, a multimedia table's coreid, else occurrenceID or
catalogNumber, else the sheet id. An occurrence imaged on several sheets is rolled up by
:mod:`herbseg.stages.specimens` (leaf area summed, intact-leaf traits the median of its intact
leaves).
The archive holds a minimal occurrence core (the id and the identifier columns the sheet list
had), so any DwC-A reader opens it; a publisher adds ``measurementorfact.txt`` to their own
archive by copying its ``<extension>`` block from ``meta.xml``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from herbseg import __version__
from herbseg.io.dwca import MOF_ROW_TYPE, write_archive
from herbseg.io.tables import read_table
from herbseg.model.card import weights_sha256
from herbseg.stages.specimens import SPECIMEN_KEYS, rollup

MOF_TERMS = [
    "measurementID", "measurementType", "measurementValue", "measurementUnit",
    "measurementAccuracy", "measurementDeterminedDate", "measurementMethod", "measurementRemarks",
]  # fmt: skip
# The core id an occurrence is linked by, most specific first (coreid and gbifID are the ids of
# a DwC-A or GBIF download's core rows).
LINK_COLUMNS = ("coreid", "gbifID", "occurrenceID", "catalogNumber")


@dataclass(frozen=True)
class Measurement:
    """One measurement type: its roll-up column, Darwin Core type text, unit, and slug."""

    column: str
    type: str
    unit: str
    slug: str


MEASUREMENTS = (
    Measurement("leaf_area_mm2", "leaf area", "mm²", "leaf_area"),
    Measurement("n_leaves", "leaf count", "", "leaf_count"),
    Measurement("n_intact", "intact leaf count", "", "intact_leaf_count"),
    Measurement("median_intact_leaf_area_mm2", "median intact leaf area", "mm²",
                "median_intact_leaf_area"),
    Measurement("median_intact_leaf_length_mm", "median intact leaf length", "mm",
                "median_intact_leaf_length"),
    Measurement("median_intact_leaf_width_mm", "median intact leaf width", "mm",
                "median_intact_leaf_width"),
)  # fmt: skip


def link_column(sheets: pd.DataFrame, preferred: str | None = None) -> str:
    """The column whose values are the occurrence ids measurements link to."""
    if preferred:
        if preferred not in sheets.columns:
            raise ValueError(f"dwc_export.id_column {preferred!r} is not a column of leaf_area.csv")
        return preferred
    for column in LINK_COLUMNS:
        if column in sheets.columns and sheets[column].astype(str).str.strip().ne("").any():
            return column
    return "sheet_id"


def _number(value: float) -> str:
    """As leaf_area.csv has it, to ten significant digits (counts as integers)."""
    return f"{value:.10g}" if float(value) != int(value) else str(int(value))


def _remarks(rows: pd.DataFrame) -> str:
    """Scale source of each sheet, so a reader knows how the mm came about."""
    parts = []
    for r in rows.itertuples():
        conf = getattr(r, "scale_confidence", None)
        conf_text = f", confidence {float(conf):.2f}" if pd.notna(conf) and conf != "" else ""
        parts.append(f"{r.sheet_id}: scale from {r.scale_source or 'none'}{conf_text}")
    return "; ".join(parts)


def measurements(
    sheets: pd.DataFrame,
    leaves: pd.DataFrame,
    *,
    model_sha: str,
    determined: str | None = None,
    id_column: str | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """(MeasurementOrFact rows, occurrence core rows, link column): a row per occurrence and
    measurement that has a value; occurrences without a measured sheet get none."""
    link = link_column(sheets, id_column)
    sheets = sheets.copy()
    sheets["_occurrence"] = (
        sheets[link]
        .astype(str)
        .where(sheets[link].astype(str).str.strip() != "", sheets["sheet_id"].astype(str))
    )
    # Rolled up by the link's values: they stand in as the only identifier column.
    keyed = sheets.drop(columns=[c for c in SPECIMEN_KEYS if c in sheets.columns])
    keyed = keyed.rename(columns={"_occurrence": "occurrenceID"})
    leaves = leaves.drop(columns=[c for c in SPECIMEN_KEYS if c in leaves.columns])
    per = rollup(keyed, leaves).set_index("specimen")
    date = determined or datetime.now(UTC).date().isoformat()
    method = (
        f"herbseg {__version__}: DeepLabv3+ leaf segmentation of the sheet images (Hussein et al. "
        f"2021, Sensors 21:4549), connected components as leaves; model sha256 {model_sha}; "
        "over an occurrence's sheets leaf area and counts are summed, intact-leaf traits are the "
        "median of its intact leaves"
    )
    rows = []
    for occurrence, group in sheets[sheets["status"] == "ok"].groupby("_occurrence", sort=False):
        facts = per.loc[occurrence]
        ppm = pd.to_numeric(group["px_per_mm"], errors="coerce")
        for m in MEASUREMENTS:
            value = pd.to_numeric(pd.Series([facts.get(m.column)]), errors="coerce").iloc[0]
            if pd.isna(value):
                continue
            accuracy = ""
            if m.unit == "mm" and ppm.notna().all():
                accuracy = f"{1 / ppm.min():.3g} mm (one pixel)"
            elif m.unit == "mm²" and ppm.notna().all():
                accuracy = f"{1 / ppm.min() ** 2:.3g} mm² per pixel"
            rows.append(
                {"coreid": occurrence, "measurementID": f"{occurrence}:herbseg:{m.slug}",
                 "measurementType": m.type, "measurementValue": _number(value),
                 "measurementUnit": m.unit, "measurementAccuracy": accuracy,
                 "measurementDeterminedDate": date, "measurementMethod": method,
                 "measurementRemarks": _remarks(group)}
            )  # fmt: skip
    mof = pd.DataFrame(rows, columns=["coreid", *MOF_TERMS])
    # The core: the id and the identifier columns the sheet list had (coreid is the id itself).
    core_cols = [c for c in SPECIMEN_KEYS if c in sheets.columns and c != "coreid"]
    core = sheets.drop_duplicates("_occurrence")[["_occurrence", *core_cols]]
    core = core.rename(columns={"_occurrence": "id"})
    return mof, core[core["id"].isin(set(mof["coreid"]))], link


def export(
    leaf_area: str | os.PathLike,
    leaf_traits: str | os.PathLike,
    model_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    id_column: str | None = None,
) -> tuple[int, int, str]:
    """Run the stage; returns (measurement rows, occurrences, link column)."""
    sheets = read_table(leaf_area, "text")  # values are written as they were measured
    try:
        leaves = read_table(leaf_traits, "text")
    except pd.errors.EmptyDataError:
        leaves = pd.DataFrame()
    mof, core, link = measurements(
        sheets, leaves, model_sha=weights_sha256(model_dir), id_column=id_column
    )
    write_archive(out_dir, core, {"measurementorfact.txt": (MOF_ROW_TYPE, mof)})
    return len(mof), len(core), link


def run(inputs, outputs, params, *, threads: int, log: Callable[[str], None]) -> None:
    """Rule dwc_export: ``measurementorfact.txt``, ``occurrence.txt`` and ``meta.xml``."""
    n_rows, n_occurrences, link = export(
        inputs.leaf_area,
        inputs.leaf_traits,
        inputs.model,
        Path(outputs.mof).parent,
        id_column=params.id_column,
    )
    log(f"{n_rows} MeasurementOrFact rows for {n_occurrences} occurrences, linked by {link}")
