"""The classify stage: score every measured component as an intact leaf or not, and train for it.

Between predict and measure. For each sheet, the components ``measure`` will number (the same
cleaned mask, the same speck limit) are cut out (``leaf_crops``) and scored by the intact-leaf
CNN (``leaf_classifier``); ``measure`` then takes ``intact`` from here instead of the area/solidity
rule. Training examples are the same components of sheets whose truth is known: matched one-to-one
to the synthetic generator's leaves (centroid within ``match_px`` sheet pixels), and any leaves a
person labelled in a CSV (``sheet_id, leaf_id, intact``), which win over the synthetic truth.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image
from scipy.optimize import linear_sum_assignment

from herbseg.config.settings import settings_from
from herbseg.io.files import write_csv
from herbseg.io.images import SheetError, load_rgb
from herbseg.io.progress import Progress
from herbseg.io.tables import read_table
from herbseg.measurement.intact_choice import VERDICT_COLUMNS
from herbseg.measurement.leaf_crops import Component, sheet_crops
from herbseg.model.leaf_classifier import ClassifierCard, load, predict_proba
from herbseg.stages.measure import (
    MeasureSettings,
    cleaned_mask,
    measure_settings,
    require_masks,
)

_YES = {"yes", "y", "true", "1", "intact"}
_NO = {"no", "n", "false", "0", "not intact", "rejected"}
LABEL_COLUMNS = ["sheet_id", "leaf_id", "intact"]


@dataclass(frozen=True)
class ClassifySettings:
    """The ``classify:`` config section: the decision threshold, how training examples are
    matched, and the classifier a run trains (``arch``, ``inputs``, ``size``, ``epochs``, ``lr``,
    ``seed``) or reads (``model``)."""

    enabled: bool = False
    model: str | None = None
    labels: str | None = None
    threshold: float = 0.5
    match_px: float = 25.0  # sheet pixels between a component's and a true leaf's centroid
    arch: str = "efficientnet_lite0"
    size: int = 96
    inputs: tuple[str, ...] = ("mask", "size")
    epochs: int = 30
    lr: float = 0.001
    seed: int = 0


def _sheet_rgb(row: dict, shape: tuple[int, int]) -> np.ndarray:
    """The sheet's colours at the mask's size (the rgb input planes)."""
    h, w = shape
    rgb = load_rgb(row["path"], min_size=(w, h))
    if rgb.shape[:2] != (h, w):
        rgb = np.asarray(Image.fromarray(rgb).resize((w, h), Image.BILINEAR))
    return rgb


def sheet_components(
    row: dict, pred: dict, s: MeasureSettings, card: ClassifierCard
) -> tuple[list[Component], np.ndarray, float]:
    """Components and crops of one sheet, plus mask px per sheet px."""
    mask, f, min_px = cleaned_mask(row, pred, s)
    rgb = _sheet_rgb(row, mask.shape) if "rgb" in card.inputs else None
    comps, x = sheet_crops(mask, min_px, card.size, card.inputs, rgb)
    return comps, x, f


def classify_shard(
    rows: pd.DataFrame,
    predictions: pd.DataFrame,
    net,
    card: ClassifierCard,
    measure: MeasureSettings,
    settings: ClassifySettings,
    log: Callable[[str], None] = print,
) -> pd.DataFrame:
    """One row per component of every predicted sheet (``VERDICT_COLUMNS``).

    Sheets that failed earlier, or whose mask cannot be read, get no rows: measure reports them.
    """
    require_masks(predictions)
    preds = predictions.set_index("sheet_id").to_dict("index")
    out, progress = [], Progress(len(rows), log, "classified")
    for row in rows.to_dict("records"):
        pred = preds.get(row["sheet_id"])
        if row["status"] == "ok" and pred is not None and pred["status"] == "ok":
            try:
                comps, x, _ = sheet_components(row, pred, measure, card)
            except SheetError as exc:
                log(f"{row['sheet_id']}: not classified ({exc.reason})")
                comps, x = [], np.zeros(0)
            probs = predict_proba(net, x)
            out += [
                {
                    "sheet_id": row["sheet_id"],
                    "leaf_id": c.leaf_id,
                    "centroid_x": c.centroid_x,
                    "centroid_y": c.centroid_y,
                    "intact_prob": float(p),
                    "intact": bool(p >= settings.threshold),
                }
                for c, p in zip(comps, probs, strict=True)
            ]
        progress.update()
    table = pd.DataFrame(out, columns=VERDICT_COLUMNS)
    log(f"classified {len(table)} leaves, {int(table['intact'].sum())} intact")
    return table


def match_one_to_one(
    pred_xy: np.ndarray, true_xy: np.ndarray, max_dist: float
) -> list[tuple[int, int]]:
    """Pairs (pred index, true index) minimising total distance, each within ``max_dist``."""
    if not len(pred_xy) or not len(true_xy):
        return []
    d = np.hypot(*(pred_xy[:, None, :] - true_xy[None, :, :]).transpose(2, 0, 1))
    cost = np.where(d <= max_dist, d, 1e9)
    r, c = linear_sum_assignment(cost)
    return [(int(i), int(j)) for i, j in zip(r, c, strict=True) if d[i, j] <= max_dist]


def read_labels(path: str | Path) -> pd.DataFrame:
    """A person's verdicts: ``sheet_id, leaf_id, intact`` (yes/no); a clear error on a bad row."""
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in LABEL_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"{path}: leaf labels need the columns {LABEL_COLUMNS}, missing {missing}")
    values = table["intact"].str.strip().str.lower()
    bad = ~values.isin(_YES | _NO)
    if bad.any():
        i = int(np.argmax(bad.to_numpy()))
        raise ValueError(
            f"{path}, row {i + 2}: intact must be yes or no, got {table['intact'].iloc[i]!r}"
        )
    ids = pd.to_numeric(table["leaf_id"], errors="coerce")
    if ids.isna().any():
        i = int(np.argmax(ids.isna().to_numpy()))
        raise ValueError(f"{path}, row {i + 2}: leaf_id must be a number")
    return pd.DataFrame(
        {"sheet_id": table["sheet_id"], "leaf_id": ids.astype(int), "intact": values.isin(_YES)}
    )


def truth_labels(
    comps: Sequence[Component], truth: pd.DataFrame, f: float, match_px: float
) -> dict[int, bool]:
    """Leaf id -> intact for the components matched to a true leaf; unmatched ones are not
    leaves (merged, overlapping or spurious) and count as not intact."""
    xy = np.array([[c.centroid_x, c.centroid_y] for c in comps]) / f  # to sheet px
    tx = truth[["centroid_x", "centroid_y"]].to_numpy(float)
    pairs = dict(match_one_to_one(xy, tx, match_px))
    intact = truth["intact"].astype(str).str.lower().eq("true").to_numpy()
    return {c.leaf_id: bool(intact[pairs[i]]) if i in pairs else False for i, c in enumerate(comps)}


def training_set(
    rows: pd.DataFrame,
    predictions: pd.DataFrame,
    measure: MeasureSettings,
    card: ClassifierCard,
    settings: ClassifySettings,
    truth_leaves: pd.DataFrame | None = None,
    labels: pd.DataFrame | None = None,
    log: Callable[[str], None] = print,
) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """Crops and labels of every component with a known verdict, and where each came from.

    A sheet contributes if the generator's truth covers it or a person labelled some of its
    leaves; a user label overrides the truth. Labels naming a leaf that does not exist are
    reported, not dropped silently.
    """
    preds = predictions.set_index("sheet_id").to_dict("index")
    truth = dict(tuple(truth_leaves.groupby("sheet_id"))) if truth_leaves is not None else {}
    user = dict(tuple(labels.groupby("sheet_id"))) if labels is not None else {}
    xs, ys, index = [], [], []
    for row in rows.to_dict("records"):
        sid, pred = row["sheet_id"], preds.get(row["sheet_id"])
        if (sid not in truth and sid not in user) or row["status"] != "ok":
            continue
        if pred is None or pred["status"] != "ok":
            continue
        comps, x, f = sheet_components(row, pred, measure, card)
        known: dict[int, tuple[bool, str]] = {}
        if sid in truth:
            for k, v in truth_labels(comps, truth[sid], f, settings.match_px).items():
                known[k] = (v, "synthetic truth")
        if sid in user:
            for lid, v in zip(user[sid]["leaf_id"], user[sid]["intact"], strict=True):
                if not 1 <= lid <= len(comps):
                    log(f"label for {sid} leaf {lid} ignored: the sheet has {len(comps)} leaves")
                    continue
                known[int(lid)] = (bool(v), "user label")
        for c, crop in zip(comps, x, strict=True):
            if c.leaf_id in known:
                xs.append(crop)
                ys.append(known[c.leaf_id][0])
                index.append((sid, c.leaf_id, known[c.leaf_id][0], known[c.leaf_id][1]))
    if not xs:
        raise ValueError("no training examples: no sheet has synthetic truth or user labels")
    table = pd.DataFrame(index, columns=["sheet_id", "leaf_id", "intact", "source"])
    return np.stack(xs), np.array(ys, np.float32), table


def run(inputs, outputs, params, *, threads: int, log: Callable[[str], None]) -> None:
    """Rule classify: every measured component of one shard scored as intact or not."""
    torch.set_num_threads(threads)
    settings = settings_from(ClassifySettings, params.classify, "classify")
    net, card = load(inputs.model)
    table = classify_shard(
        read_table(inputs.sheets, "text"),
        read_table(inputs.predictions, "predictions"),
        net,
        card,
        measure_settings(params.measure, params.postprocess),
        settings,
        log=log,
    )
    write_csv(table, outputs[0])
