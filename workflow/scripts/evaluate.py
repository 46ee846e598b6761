"""Score the test split's predicted masks against their annotations (rule evaluate)."""

import json

import pandas as pd

from herbseg.io.files import atomic_write_text, write_csv
from herbseg.io.logs import job_log
from herbseg.stages.evaluate import card_with_metrics, evaluate_split
from herbseg.stages.specimens import with_keys

with job_log(snakemake.log[0]) as log:
    per_sheet, summary = evaluate_split(
        snakemake.input.split, snakemake.input.predictions, snakemake.input.sheets
    )
    rows = [pd.read_csv(p, dtype=str, keep_default_na=False) for p in snakemake.input.sheets]
    if rows:  # catalogNumber, occurrenceID, … beside sheet_id
        per_sheet = with_keys(per_sheet, pd.concat(rows, ignore_index=True))
    write_csv(per_sheet, snakemake.output.per_sheet)
    write_csv(summary, snakemake.output.summary)
    card = card_with_metrics(snakemake.input.model, summary, snakemake.input.split)
    atomic_write_text(snakemake.output.card, json.dumps(card, indent=2, sort_keys=True) + "\n")
    log("test split: " + ", ".join(f"{k} {v:.4f}" for k, v in summary.iloc[0].items()))
