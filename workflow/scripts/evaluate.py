"""Score the test split's predicted masks against their annotations (rule evaluate)."""

import json
from pathlib import Path

from herbseg.evaluate import card_with_metrics, evaluate_split
from herbseg.logs import job_log

with job_log(snakemake.log[0]) as log:
    per_sheet, summary = evaluate_split(
        snakemake.input.split, snakemake.input.predictions, snakemake.input.sheets
    )
    per_sheet.to_csv(snakemake.output.per_sheet, index=False)
    summary.to_csv(snakemake.output.summary, index=False)
    card = card_with_metrics(snakemake.input.model, summary, snakemake.input.split)
    Path(snakemake.output.card).write_text(json.dumps(card, indent=2, sort_keys=True) + "\n")
    log("test split: " + ", ".join(f"{k} {v:.4f}" for k, v in summary.iloc[0].items()))
