"""Score the test split's predicted masks against their annotations (rule evaluate)."""

from herbseg.evaluate import evaluate_split
from herbseg.logs import job_log

with job_log(snakemake.log[0]) as log:
    per_sheet, summary = evaluate_split(
        snakemake.input.split, snakemake.input.predictions, snakemake.input.sheets
    )
    per_sheet.to_csv(snakemake.output.per_sheet, index=False)
    summary.to_csv(snakemake.output.summary, index=False)
    log("test split: " + ", ".join(f"{k} {v:.4f}" for k, v in summary.iloc[0].items()))
