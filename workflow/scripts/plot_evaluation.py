"""Draw the test scores for the report (rule plot_evaluation)."""

import pandas as pd

from herbseg.io.logs import job_log
from herbseg.reporting.plots import plot_evaluation

with job_log(snakemake.log[0]) as log:
    per_sheet = pd.read_csv(snakemake.input.per_sheet, dtype={"sheet_id": str})
    summary = pd.read_csv(snakemake.input.summary)
    plot_evaluation(per_sheet, summary, snakemake.output.figure)
    log(f"plotted {len(per_sheet)} test sheets into {snakemake.output.figure}")
