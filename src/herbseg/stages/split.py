"""Split annotated sheets into train / val / test, reproducibly and without group leakage."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

SPLITS = ("train", "val", "test")


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
