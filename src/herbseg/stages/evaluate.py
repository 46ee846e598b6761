"""Score predicted masks against the annotations of the test split.

Scoring happens on the annotation's own sheet geometry (the predicted sheet mask, not the square
frame), because that is the mask users measure leaves on.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

import numpy as np
import pandas as pd
from PIL import Image

from herbseg.io.files import atomic_write_text, write_csv
from herbseg.io.images import read_mask
from herbseg.io.tables import read_table, read_tables
from herbseg.measurement.metrics import confusion, scores
from herbseg.model.card import read_card
from herbseg.stages.specimens import with_keys

SCORE_COLUMNS = ["iou", "dice", "precision", "recall", "accuracy"]


def _on_grid(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    if mask.shape == shape:
        return mask
    im = Image.fromarray(mask.astype(np.uint8) * 255).resize(
        (shape[1], shape[0]), Image.Resampling.NEAREST
    )
    return np.asarray(im) >= 128


def score_sheet(pred_path: str, truth_path: str) -> dict:
    """Confusion counts and scores of one sheet; the annotation is mapped onto the prediction."""
    pred = read_mask(pred_path)
    truth = _on_grid(read_mask(truth_path), pred.shape)
    tp, fp, fn, tn = confusion(pred, truth)
    return {"tp": tp, "fp": fp, "fn": fn, "tn": tn, **scores(tp, fp, fn, tn)}


def evaluate(items: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-sheet scores and one summary row pooled over all pixels of all sheets.

    ``items`` has ``sheet_id``, ``pred_path`` and ``truth_path``. Pooling (rather than averaging
    per-sheet IoU) keeps a nearly empty sheet from dominating the headline figure.
    """
    rows = [
        {"sheet_id": r.sheet_id, **score_sheet(r.pred_path, r.truth_path)}
        for r in items.itertuples()
    ]
    per_sheet = pd.DataFrame(rows, columns=["sheet_id", "tp", "fp", "fn", "tn", *SCORE_COLUMNS])
    totals = per_sheet[["tp", "fp", "fn", "tn"]].sum()
    summary = pd.DataFrame(
        [
            {
                **scores(*(int(totals[c]) for c in ("tp", "fp", "fn", "tn"))),
                "n_sheets": len(per_sheet),
            }
        ]
    )[[*SCORE_COLUMNS, "n_sheets"]]
    return per_sheet, summary


def evaluate_split(
    split_csv: str, prediction_tables: list[str], shard_lists: list[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Score the ``test`` sheets of a split file; a test sheet without a prediction is an error."""
    split = read_table(split_csv, "split")
    preds = pd.concat([read_table(p, "predictions") for p in prediction_tables])
    sheets = pd.concat([read_table(p, "text") for p in shard_lists])
    test = split.loc[split["split"] == "test", ["sheet_id"]]
    items = (
        test.merge(
            preds.loc[preds["status"] == "ok", ["sheet_id", "mask_path"]], on="sheet_id", how="left"
        )
        .merge(
            sheets.loc[sheets["status"] == "ok", ["sheet_id", "mask_path"]],
            on="sheet_id",
            how="left",
            suffixes=("_pred", "_truth"),
        )
        .rename(columns={"mask_path_pred": "pred_path", "mask_path_truth": "truth_path"})
    )
    missing = items["pred_path"].isna() | items["truth_path"].isna()
    if missing.any():
        raise ValueError(
            f"test sheets without prediction or annotation: "
            f"{', '.join(items.loc[missing, 'sheet_id'])}"
        )
    return evaluate(items)


def card_with_metrics(model_dir: str, summary: pd.DataFrame, split_csv: str) -> dict:
    """The model card completed with what only evaluation knows: the test figures and the split.

    It is written beside the model rather than into it, so the trained model folder stays exactly
    what ``train`` produced.
    """
    card = read_card(model_dir)
    split = read_table(split_csv, "split")
    ids = "\n".join(f"{s}\t{i}" for s, i in sorted(zip(split["split"], split["sheet_id"])))
    card["split_sheet_ids_sha256"] = hashlib.sha256(ids.encode()).hexdigest()
    card["split_counts"] = {k: int(v) for k, v in split["split"].value_counts().items()}
    card["test_metrics"] = {k: float(v) for k, v in summary.iloc[0].items() if k != "n_sheets"}
    card["test_metrics"]["n_sheets"] = int(summary["n_sheets"].iloc[0])
    return card


def run(inputs, outputs, params, *, threads: int, log: Callable[[str], None]) -> None:
    """Rule evaluate: per-sheet and pooled scores of the test split, and the model card with
    them (written beside the model, which stays as train wrote it)."""
    per_sheet, summary = evaluate_split(inputs.split, inputs.predictions, inputs.sheets)
    if len(inputs.sheets):  # catalogNumber, occurrenceID, … beside sheet_id
        per_sheet = with_keys(per_sheet, read_tables(inputs.sheets, "text"))
    write_csv(per_sheet, outputs.per_sheet)
    write_csv(summary, outputs.summary)
    card = card_with_metrics(inputs.model, summary, inputs.split)
    atomic_write_text(outputs.card, json.dumps(card, indent=2, sort_keys=True) + "\n")
    log("test split: " + ", ".join(f"{k} {v:.4f}" for k, v in summary.iloc[0].items()))
