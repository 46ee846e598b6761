"""Check a run on the synthetic collection against the generator's truth.

The synthetic sheets know their true px/mm, leaf area and every leaf's size, so the demo can state
how far the whole chain (segmentation, scale, measurement) is from the truth, not just that it ran.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from herbseg.io.files import write_csv
from herbseg.io.tables import read_table


def _median_rel(measured: pd.Series, truth: pd.Series) -> float:
    rel = ((measured - truth).abs() / truth).dropna()
    return float(rel.median()) if len(rel) else float("nan")


def match_leaves(pred: pd.DataFrame, truth: pd.DataFrame, max_px: float) -> pd.DataFrame:
    """Pair each true intact leaf with the predicted leaf whose centroid is nearest (per sheet).

    The generator's blade shape comes along as ``truth_shape`` where the truth has one, so an
    error can be traced to the shapes it comes from (acuminate tips, petiole stubs).
    """
    pairs = []
    for sid, t in truth.groupby("sheet_id"):
        p = pred[pred["sheet_id"] == sid]
        if p.empty:
            continue
        dist, idx = cKDTree(p[["centroid_x", "centroid_y"]].to_numpy()).query(
            t[["centroid_x", "centroid_y"]].to_numpy(), distance_upper_bound=max_px
        )
        for (_, trow), d, i in zip(t.iterrows(), dist, idx):
            if np.isfinite(d):
                prow = p.iloc[i]
                pairs.append(
                    {
                        "sheet_id": sid,
                        "truth_length_mm": trow["length_mm"],
                        "truth_width_mm": trow["width_mm"],
                        "length_mm": prow["length_mm"],
                        "width_mm": prow["width_mm"],
                        "pred_intact": prow["intact"],
                        **({"truth_shape": trow["shape"]} if "shape" in trow else {}),
                    }
                )
    return pd.DataFrame(pairs)


def demo_check(leaf_area: str, leaf_traits: str, summary: str, truth: str) -> pd.DataFrame:
    """Headline figures of a demo run: test IoU, area, scale and leaf-size errors."""
    sheets = read_table(leaf_area, "sheets")
    leaves = read_table(leaf_traits, "leaves")
    true_sheets = read_table(truth, "truth")
    iou = float(pd.read_csv(summary)["iou"].iloc[0])
    both = sheets.merge(true_sheets, on="sheet_id", suffixes=("", "_true"))
    rows = [
        {"metric": "test_iou", "value": iou, "detail": "pooled over the test split's pixels"},
        {
            "metric": "leaf_area_median_rel_error",
            "value": _median_rel(both["leaf_area_mm2"], both["leaf_area_mm2_true"]),
            "detail": f"{int(both['leaf_area_mm2'].notna().sum())} sheets with a scale",
        },
        {
            "metric": "px_per_mm_median_rel_error",
            "value": _median_rel(both["px_per_mm"], both["px_per_mm_true"]),
            "detail": ", ".join(
                f"{k} {v}" for k, v in both["scale_source"].value_counts().sort_index().items()
            ),
        },
        {
            "metric": "ruler_within_1pct_fraction",
            "value": float(
                (
                    (both["px_per_mm"] - both["px_per_mm_true"]).abs() / both["px_per_mm_true"]
                    <= 0.01
                )[both["scale_source"] == "ruler"].sum()
                / max(1, len(both))
            ),
            "detail": "sheets whose ruler gave px/mm within 1 % of the truth, of all sheets",
        },
    ]
    truth_leaves_path = Path(truth).with_name("truth_leaves.csv")
    if truth_leaves_path.exists() and len(leaves):
        true_leaves = read_table(truth_leaves_path, "truth")
        intact = true_leaves[true_leaves["intact"].astype(str).str.lower() == "true"]
        max_px = float(np.median(both["px_per_mm_true"])) * 5  # within 5 mm
        pairs = match_leaves(leaves, intact, max_px)
        if len(pairs):
            rows += [
                {
                    "metric": "intact_leaf_length_median_rel_error",
                    "value": _median_rel(pairs["length_mm"], pairs["truth_length_mm"]),
                    "detail": f"{len(pairs)} of {len(intact)} true intact leaves matched",
                },
                {
                    "metric": "intact_leaf_width_median_rel_error",
                    "value": _median_rel(pairs["width_mm"], pairs["truth_width_mm"]),
                    "detail": f"{len(pairs)} of {len(intact)} true intact leaves matched",
                },
            ]
    return pd.DataFrame(rows, columns=["metric", "value", "detail"])


def run(inputs, outputs, params, *, threads: int, log: Callable[[str], None]) -> None:
    """Rule demo_check: ``demo_check.csv`` and its figures in the log."""
    check = demo_check(inputs.leaf_area, inputs.leaf_traits, inputs.summary, inputs.truth)
    write_csv(check, outputs[0])
    for row in check.itertuples():
        log(f"{row.metric}: {row.value:.4f} ({row.detail})")


def main(argv: list[str] | None = None) -> int:
    """Print a finished demo's headline figures (``python -m herbseg.reporting.demo_check
    demo_check.csv``)."""
    import sys

    args = sys.argv[1:] if argv is None else argv
    check = pd.read_csv(args[0])
    print("\nherbseg demo — measured against the generator's truth")
    for row in check.itertuples():
        print(f"  {row.metric:<38} {row.value:8.4f}   {row.detail}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
