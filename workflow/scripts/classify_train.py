"""Train the intact-leaf classifier on components with a known verdict (rule classify_train)."""

from pathlib import Path

import pandas as pd

from herbseg.io.files import write_csv
from herbseg.io.logs import job_log
from herbseg.model.leaf_classifier import ClassifierCard, card_for, fit, save
from herbseg.stages.classify import ClassifySettings, read_labels, training_set
from herbseg.stages.measure import MeasureSettings

with job_log(snakemake.log[0]) as log:
    c = snakemake.params.classify
    inp = snakemake.input
    rows = pd.concat(
        [pd.read_csv(p, dtype=str, keep_default_na=False) for p in inp.sheets], ignore_index=True
    )
    preds = pd.concat(
        [pd.read_csv(p, dtype={"sheet_id": str}, keep_default_na=False) for p in inp.predictions],
        ignore_index=True,
    )
    truth = None
    if "truth" in inp.keys():
        truth = pd.read_csv(Path(inp.truth).with_name("truth_leaves.csv"), dtype={"sheet_id": str})
        split = pd.read_csv(inp.split, dtype={"sheet_id": str})
        test = set(split.loc[split["split"] == "test", "sheet_id"])
        truth = truth[~truth["sheet_id"].isin(test)]  # the demo check stays on unseen sheets
        log(f"synthetic truth of {truth['sheet_id'].nunique()} sheets ({len(test)} test left out)")
    labels = read_labels(inp.labels) if "labels" in inp.keys() else None
    card = ClassifierCard(arch=c["arch"], inputs=tuple(c["inputs"]), size=c["size"])
    measure = MeasureSettings.from_config(snakemake.params.measure, snakemake.params.postprocess)
    settings = ClassifySettings(threshold=c["threshold"], match_px=c["match_px"])
    x, y, examples = training_set(rows, preds, measure, card, settings, truth, labels, log=log)
    log(f"{len(y)} training crops, {int(y.sum())} intact")
    net, history = fit(
        x,
        y,
        arch=c["arch"],
        epochs=c["epochs"],
        lr=c["lr"],
        seed=c["seed"],
        threads=snakemake.threads,
        log=log,
    )
    sources = examples["source"].value_counts().to_dict()
    save(
        net,
        card_for(c["inputs"], c["size"], c["arch"], y, history, sources),
        snakemake.output.model,
    )
    write_csv(examples, snakemake.output.examples)
    write_csv(pd.DataFrame(history), snakemake.output.history)
