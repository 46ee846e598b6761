"""Split annotated sheets into train / val / test, reproducibly and without group leakage."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from herbseg.config.settings import settings_from
from herbseg.io.files import write_csv
from herbseg.io.tables import read_table, read_tables
from herbseg.stages.annotation_qc import excluded_ids

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class SplitSettings:
    """The ``split:`` config section: the fractions, the seed and the column whose groups (e.g.
    specimens) stay in one split."""

    train: float = 0.7
    val: float = 0.15
    test: float = 0.15
    seed: int = 42
    group_column: str | None = None

    @property
    def fractions(self) -> dict[str, float]:
        return {s: getattr(self, s) for s in SPLITS}


def _counts(n: int, fractions: dict[str, float]) -> dict[str, int]:
    """Whole numbers per split; val and test get at least one item whenever there are three."""
    total = sum(fractions[s] for s in SPLITS)
    if total <= 0:
        raise ValueError("split fractions must sum to a positive number")
    want = {s: fractions[s] / total * n for s in SPLITS}
    counts = {s: int(np.floor(want[s])) for s in SPLITS}
    for s in sorted(SPLITS, key=lambda s: want[s] - counts[s], reverse=True):
        if sum(counts.values()) >= n:
            break
        counts[s] += 1
    if n >= 3:
        for s in ("val", "test"):
            if fractions[s] > 0 and counts[s] == 0:
                counts[s] = 1
                counts["train"] -= 1
    return counts


def split_sheets(
    sheet_ids: Sequence[str],
    fractions: dict[str, float],
    seed: int,
    groups: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Assign each sheet to a split; sheets sharing a group (e.g. a specimen) stay together.

    Items are sorted before shuffling so the split depends only on the ids and the seed, not on
    the order files were found in.
    """
    ids = pd.Series(list(sheet_ids), dtype=str)
    if ids.duplicated().any():
        raise ValueError("sheet ids must be unique to be split")
    keys = ids if groups is None else pd.Series(list(groups), dtype=str).fillna("")
    keys = keys.where(keys != "", ids)  # a sheet without a group is its own group
    units = np.array(sorted(set(keys)))
    rng = np.random.default_rng(seed)
    units = units[rng.permutation(len(units))]
    counts = _counts(len(units), fractions)
    label: dict[str, str] = {}
    start = 0
    for s in SPLITS:
        for u in units[start : start + counts[s]]:
            label[u] = s
        start += counts[s]
    out = pd.DataFrame({"sheet_id": ids, "split": [label[k] for k in keys]})
    if groups is not None:
        out["group"] = keys.values
    return out.sort_values("sheet_id", kind="stable").reset_index(drop=True)


def run(inputs, outputs, params, *, threads: int, log: Callable[[str], None]) -> None:
    """Rule split: the annotated sheets with a usable mask frame, less those annotation QC left
    out (each with its reason row in ``ingest/annotation_qc.csv``)."""
    p = settings_from(SplitSettings, params.split, "split")
    if not inputs.tables:  # pd.concat would say "No objects to concatenate"
        raise ValueError(
            f"no sheet has a mask in annotations {params.annotations!r} (see "
            "ingest/problems.csv for unmatched masks): name masks like their sheets "
            "(<sheet stem>.png or <sheet stem>_mask.png), or set model.path to a saved herbseg "
            "model to measure the sheets without training"
        )
    resized = read_tables(inputs.tables, "frames")
    sheets = read_tables(inputs.sheets, "text")
    usable = resized[(resized["status"] == "ok") & resized["mask_frame_path"].notna()]
    excluded = excluded_ids(read_table(inputs.qc, "qc"))
    if excluded:
        log(f"left out by annotation QC: {len(excluded)} masks ({', '.join(sorted(excluded))})")
    usable = usable[~usable["sheet_id"].isin(excluded)]
    groups = None
    if p.group_column:
        lookup = sheets.set_index("sheet_id")[p.group_column]
        groups = lookup.reindex(usable["sheet_id"]).fillna("").tolist()
    split = split_sheets(usable["sheet_id"].tolist(), p.fractions, p.seed, groups)
    write_csv(split, outputs[0])
    counts = split["split"].value_counts().sort_index().items()
    log(f"split {len(split)} annotated sheets: " + ", ".join(f"{k} {v}" for k, v in counts))
