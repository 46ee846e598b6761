"""Rule classify_train: fit the intact-leaf classifier on components with a known verdict.

The examples are the components :mod:`herbseg.stages.classify` will score, matched to the
synthetic generator's truth (its test split left out, so the demo check stays on unseen sheets)
and/or to a person's labels (``classify.labels``), which win over the truth.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd

from herbseg.config.settings import settings_from
from herbseg.io.files import write_csv
from herbseg.io.tables import read_table, read_tables
from herbseg.model.leaf_classifier import ClassifierCard, card_for, fit, save
from herbseg.stages.classify import ClassifySettings, read_labels, training_set
from herbseg.stages.measure import measure_settings


def run(inputs, outputs, params, *, threads: int, log: Callable[[str], None]) -> None:
    """Train on every shard's components (``inputs.sheets``, ``.predictions``) with the truth
    (``inputs.truth``, ``.split``) and/or the labels (``inputs.labels``) the rule gives."""
    c = settings_from(ClassifySettings, params.classify, "classify")
    rows = read_tables(inputs.sheets, "text")
    preds = read_tables(inputs.predictions, "predictions")
    truth = None
    if getattr(inputs, "truth", None):
        truth = read_table(Path(inputs.truth).with_name("truth_leaves.csv"), "truth")
        split = read_table(inputs.split, "split")
        test = set(split.loc[split["split"] == "test", "sheet_id"])
        truth = truth[~truth["sheet_id"].isin(test)]  # the demo check stays on unseen sheets
        log(f"synthetic truth of {truth['sheet_id'].nunique()} sheets ({len(test)} test left out)")
    labels = read_labels(inputs.labels) if getattr(inputs, "labels", None) else None
    card = ClassifierCard(arch=c.arch, inputs=c.inputs, size=c.size)
    measure = measure_settings(params.measure, params.postprocess)
    x, y, examples = training_set(rows, preds, measure, card, c, truth, labels, log=log)
    log(f"{len(y)} training crops, {int(y.sum())} intact")
    net, history = fit(
        x, y, arch=c.arch, epochs=c.epochs, lr=c.lr, seed=c.seed, threads=threads, log=log
    )
    sources = examples["source"].value_counts().to_dict()
    save(net, card_for(c.inputs, c.size, c.arch, y, history, sources), outputs.model)
    write_csv(examples, outputs.examples)
    write_csv(pd.DataFrame(history), outputs.history)
