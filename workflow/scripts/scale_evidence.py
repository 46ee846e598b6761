"""Scale evidence crops and the refused-scale problem table (rule scale_evidence)."""

import pandas as pd

from herbseg.io.files import write_csv
from herbseg.io.logs import job_log
from herbseg.reporting.scale_evidence import (
    plan_scale_evidence,
    scale_problems,
    write_scale_evidence,
)

with job_log(snakemake.log[0]) as log:
    sheets = pd.read_csv(snakemake.input.leaf_area, dtype={"sheet_id": str}, keep_default_na=False)
    write_csv(scale_problems(sheets), snakemake.output.problems)
    p = snakemake.params.report
    plan = plan_scale_evidence(
        sheets,
        n_sample=p["n_scale_sample"],
        low_confidence=p["scale_low_confidence"],
        seed=p["seed"],
    )
    write_scale_evidence(plan, snakemake.output.crops, log=log)
