"""Gather the shard tables into collection tables, proving that no sheet was lost on the way."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pandas as pd

from herbseg.io.files import write_csv
from herbseg.io.sheets import MANIFEST_COLUMNS
from herbseg.io.tables import read_table, with_counts_whole
from herbseg.model.card import weights_sha256, with_model_column
from herbseg.stages.specimens import rollup, with_keys


def _read(paths: Sequence[str], text: Sequence[str] = ()) -> pd.DataFrame:
    """Shard tables (``sheets``/``leaves`` kinds of :mod:`herbseg.io.tables`) as one; ``text``
    columns (those carried from the manifest) stay as written: a catalogue number 0007 must not
    come back as 7.0, and a blank is missing, never the word ``""``."""
    dtype = {"sheet_id": str, "path": str} | dict.fromkeys(text, str)
    frames = [pd.read_csv(p, dtype=dtype, keep_default_na=False, na_values=[""]) for p in paths]
    frames = [f for f in frames if len(f.columns)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def aggregate(
    manifest_path: str, sheet_tables: Sequence[str], leaf_tables: Sequence[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One sheet row per manifest row, in manifest order; a row missing from every shard is added
    as ``status=error`` so the count of rows in always equals the count of rows out."""
    manifest = read_table(manifest_path, "text")
    carried = [c for c in manifest.columns if c not in MANIFEST_COLUMNS]
    sheets = _read(sheet_tables, carried)
    key = ["sheet_id", "path"]
    if len(sheets):
        order = manifest[key].reset_index().rename(columns={"index": "_order"})
        sheets = sheets.merge(order, on=key, how="left")
        extra = sheets["_order"].isna()
        if extra.any():
            raise ValueError(f"{int(extra.sum())} measured rows are not in the manifest")
    else:
        sheets = pd.DataFrame(columns=[*key, "status", "error", "_order"])
    lost = manifest.loc[~manifest.set_index(key).index.isin(sheets.set_index(key).index)]
    if len(lost):
        fill = lost[[*key, "status", "error", "shard", *carried]].copy()
        fill["status"] = "error"
        fill["error"] = "not measured: missing from every shard table"
        fill["_order"] = lost.index
        sheets = pd.concat([sheets, fill], ignore_index=True)
    sheets = sheets.sort_values("_order", kind="stable").drop(columns="_order")
    leaves = _read(leaf_tables)
    if len(leaves):
        leaves = leaves.sort_values(["sheet_id", "leaf_id"], kind="stable")
        leaves = with_keys(leaves, manifest)  # catalogNumber, occurrenceID, … beside sheet_id
    # read back from CSV, a shard's counts are floats wherever a row is blank
    return with_counts_whole(sheets.reset_index(drop=True)), with_counts_whole(
        leaves.reset_index(drop=True)
    )


def run(inputs, outputs, params, *, threads: int, log: Callable[[str], None]) -> None:
    """Rule aggregate: the collection's ``leaf_area.csv``, ``leaf_traits.csv`` and
    ``specimens.csv``."""
    sheets, leaves = aggregate(inputs.manifest, inputs.sheets, inputs.leaves)
    sheets = with_model_column(sheets, weights_sha256(inputs.model))
    write_csv(sheets, outputs.sheets)
    write_csv(leaves, outputs.leaves)
    specimens = rollup(sheets, leaves)
    write_csv(specimens, outputs.specimens)
    log(
        f"{len(sheets)} sheets ({int((sheets['status'] == 'ok').sum())} measured), "
        f"{len(leaves)} leaves, {len(specimens)} specimens (leaf area summed over a "
        "specimen's sheets, intact-leaf traits the median of its intact leaves)"
    )
