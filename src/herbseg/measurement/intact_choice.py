"""Which leaves count as intact: the classifier's verdict where there is one, else the rule's.

The classifier sees a crop scaled to a fixed size, so it cannot know that a leaf runs off the sheet
or fills a quarter of it; those two hard limits of the rule (``exclude_edge``,
``max_area_fraction``) still apply to its verdicts. Solidity, the rule's guess at damage and
overlap, is what the classifier replaces. The rule's own verdict stays beside it
(``intact_rule``), so the two can be compared on every leaf.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from herbseg.measurement.traits import IntactRule

VERDICT_COLUMNS = ["sheet_id", "leaf_id", "centroid_x", "centroid_y", "intact_prob", "intact"]


def apply_verdicts(
    leaves: pd.DataFrame,
    verdicts: pd.DataFrame | None,
    rule: IntactRule,
    shape: tuple[int, int],
) -> pd.DataFrame:
    """``leaves`` (from ``leaf_traits``, in mask pixels) with ``intact`` decided and explained.

    Adds ``intact_rule`` (the rule), ``intact_prob`` (NaN without a classifier) and ``intact_by``:
    ``classifier``, ``rule`` (no classifier), or ``rule (classifier table does not match)`` when
    the verdicts were made on other components (a changed mask or clean-up), which is said rather
    than silently mixing two numberings.
    """
    out = leaves.copy()
    out["intact_rule"] = out["intact"].astype(bool)
    out["intact_prob"] = np.nan
    out["intact_by"] = "rule"
    if verdicts is None or not len(out):
        return out
    v = verdicts.set_index("leaf_id")
    same = len(v) == len(out) and v.index.isin(out["leaf_id"]).all()
    if same:
        v = v.loc[out["leaf_id"]]
        dx = np.abs(v["centroid_x"].to_numpy() - out["centroid_x"].to_numpy())
        dy = np.abs(v["centroid_y"].to_numpy() - out["centroid_y"].to_numpy())
        same = bool((np.maximum(dx, dy) < 0.5).all())
    if not same:
        out["intact_by"] = "rule (classifier table does not match)"
        return out
    limits = out["area_px"] <= rule.max_area_fraction * shape[0] * shape[1]
    if rule.exclude_edge:
        limits &= ~out["touches_edge"].astype(bool)
    out["intact_prob"] = v["intact_prob"].to_numpy(dtype=float)
    out["intact"] = v["intact"].astype(bool).to_numpy() & limits.to_numpy()
    out["intact_by"] = "classifier"
    return out
