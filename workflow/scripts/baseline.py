"""Fit the classical baseline on the train and val sheets and score it on the test sheets
(rule baseline), with the same split, mask geometry and scoring code as the network."""

from pathlib import Path

import pandas as pd

from herbseg.io.files import write_csv
from herbseg.io.logs import job_log
from herbseg.stages.baseline import BaselineSettings, fit_rows, save_fitted, segment_rows
from herbseg.stages.evaluate import evaluate

with job_log(snakemake.log[0]) as log:
    settings = BaselineSettings.from_dict(snakemake.params.baseline)
    split = pd.read_csv(snakemake.input.split, dtype={"sheet_id": str})
    sheets = pd.concat(
        [pd.read_csv(p, dtype=str, keep_default_na=False) for p in snakemake.input.sheets]
    )
    rows = split.merge(sheets[sheets["status"] == "ok"], on="sheet_id", how="left")
    if rows["mask_path"].isna().any():
        raise ValueError("split names sheets that are not annotated ok sheets")
    model = None
    if settings.method == "learned":
        model = fit_rows(rows[rows["split"].isin(["train", "val"])], settings, log=log)
    save_fitted(snakemake.output.model, settings, model)
    test = rows[rows["split"] == "test"]
    table = segment_rows(
        test,
        Path(snakemake.output.masks),
        settings,
        model,
        long_side=snakemake.params.long_side,
        log=log,
    )
    failed = table[table["status"] != "ok"]
    if len(failed):
        raise ValueError(f"baseline failed on test sheets: {', '.join(failed['sheet_id'])}")
    items = table[["sheet_id", "mask_path"]].rename(columns={"mask_path": "pred_path"})
    items = items.merge(
        test[["sheet_id", "mask_path"]].rename(columns={"mask_path": "truth_path"}), on="sheet_id"
    )
    per_sheet, summary = evaluate(items)
    write_csv(per_sheet, snakemake.output.per_sheet)
    write_csv(summary, snakemake.output.summary)
    log("baseline, test split: " + ", ".join(f"{k} {v:.4f}" for k, v in summary.iloc[0].items()))
