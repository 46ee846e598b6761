"""Specimen keys on every result table, and one row per specimen.

Measurements go back into collection databases and GBIF by specimen, not by image file: every
result table carries the sheet list's identifier columns, and a specimen photographed on several
sheets (a DwC-A multimedia table often lists several images per occurrence) gets one roll-up row.

Roll-up rule (``specimens.csv``): leaf area and leaf counts are *summed* over the specimen's
measured sheets (its leaves are spread over them); intact-leaf traits are the *median over the
specimen's intact leaves* of all its sheets (not a median of sheet medians). Sheets without a
scale add no mm² and are counted in ``n_sheets_without_scale``.
"""

from __future__ import annotations

import pandas as pd

from herbseg.io.tables import with_counts_whole

# Darwin Core (and GBIF) identifier terms, most specific first: the first present is the key a
# specimen is rolled up by.
SPECIMEN_KEYS = (
    "occurrenceID", "gbifID", "catalogNumber", "coreid", "institutionCode", "collectionCode",
    "recordNumber",
)  # fmt: skip
ROLLUP_KEYS = ("occurrenceID", "gbifID", "catalogNumber", "coreid")
SPECIMEN_COLUMNS = [
    "specimen", "specimen_key", "n_sheets", "n_measured", "n_sheets_without_scale", "sheet_ids",
    "leaf_area_mm2", "n_leaves", "n_intact", "median_intact_leaf_area_mm2",
    "median_intact_leaf_length_mm", "median_intact_leaf_width_mm",
]  # fmt: skip


def key_columns(table: pd.DataFrame) -> list[str]:
    """The identifier columns a table has, in :data:`SPECIMEN_KEYS` order."""
    return [c for c in SPECIMEN_KEYS if c in table.columns]


def with_keys(table: pd.DataFrame, manifest: pd.DataFrame, after: str = "sheet_id") -> pd.DataFrame:
    """``table`` with the manifest's identifier columns joined on ``sheet_id``, placed right after
    ``after``; rows without a sheet (an unmatched annotation) get empty keys."""
    keys = [c for c in key_columns(manifest) if c not in table.columns]
    if not keys or "sheet_id" not in table.columns:
        return table
    lookup = manifest.drop_duplicates("sheet_id").set_index("sheet_id")[keys]
    joined = table.join(lookup, on="sheet_id")
    for c in keys:
        joined[c] = joined[c].fillna("")
    cols = list(table.columns)
    at = cols.index(after) + 1 if after in cols else len(cols)
    return joined[cols[:at] + keys + cols[at:]]


def specimen_of(sheets: pd.DataFrame) -> tuple[pd.Series, str]:
    """Each sheet's specimen: the first roll-up key column with a value, else the sheet itself."""
    present = [c for c in ROLLUP_KEYS if c in sheets.columns]
    key = present[0] if present else "sheet_id"
    values = sheets[key].fillna("").astype(str) if present else sheets["sheet_id"].astype(str)
    return values.where(values.str.strip() != "", sheets["sheet_id"].astype(str)), key


def rollup(sheets: pd.DataFrame, leaves: pd.DataFrame) -> pd.DataFrame:
    """One row per specimen by the rule in the module docstring, in first-seen order."""
    specimen, key = specimen_of(sheets)
    frame = sheets.assign(_specimen=specimen.values)
    ok = frame["status"] == "ok"
    area = pd.to_numeric(frame.get("leaf_area_mm2"), errors="coerce")
    frame = frame.assign(
        _ok=ok,
        _area=area.where(ok),
        _noscale=ok & area.isna(),
        _leaves=pd.to_numeric(frame.get("n_leaves"), errors="coerce").where(ok),
        _intact=pd.to_numeric(frame.get("n_intact"), errors="coerce").where(ok),
    )
    grouped = frame.groupby("_specimen", sort=False)
    out = pd.DataFrame(
        {
            "specimen": list(grouped.groups),
            "specimen_key": key,
            "n_sheets": grouped.size().values,
            "n_measured": grouped["_ok"].sum().astype(int).values,
            "n_sheets_without_scale": grouped["_noscale"].sum().astype(int).values,
            "sheet_ids": grouped["sheet_id"].agg(";".join).values,
            "leaf_area_mm2": grouped["_area"].sum(min_count=1).values,
            "n_leaves": grouped["_leaves"].sum(min_count=1).values,
            "n_intact": grouped["_intact"].sum(min_count=1).values,
        }
    )
    medians = _intact_medians(leaves, dict(zip(frame["sheet_id"], frame["_specimen"])))
    out = out.join(medians, on="specimen")
    for c in key_columns(sheets):
        out[c] = grouped[c].first().values
    return with_counts_whole(out.reindex(columns=SPECIMEN_COLUMNS + key_columns(sheets)))


def _intact_medians(leaves: pd.DataFrame, specimen_of_sheet: dict[str, str]) -> pd.DataFrame:
    names = {
        "area_mm2": "median_intact_leaf_area_mm2",
        "length_mm": "median_intact_leaf_length_mm",
        "width_mm": "median_intact_leaf_width_mm",
    }
    if not len(leaves) or "intact" not in leaves.columns:
        return pd.DataFrame(columns=list(names.values()))
    intact = leaves[leaves["intact"].astype(str).str.lower().isin(("true", "1"))]
    intact = intact.assign(_specimen=intact["sheet_id"].map(specimen_of_sheet))
    values = intact[list(names)].apply(pd.to_numeric, errors="coerce")
    return values.groupby(intact["_specimen"]).median().rename(columns=names)
