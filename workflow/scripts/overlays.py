"""Draw worst-test, problem and randomly chosen sheets with mask outlines (rule overlays)."""

import pandas as pd

from herbseg.logs import job_log
from herbseg.plots import plan_overlays, write_overlays


def read(path):
    return pd.read_csv(path, dtype=str, keep_default_na=False)


with job_log(snakemake.log[0]) as log:
    p = snakemake.params.report
    plan = plan_overlays(
        read(snakemake.input.manifest),
        read(snakemake.input.problems),
        read(snakemake.input.per_sheet),
        read(snakemake.input.leaf_area),
        n_worst=p["n_worst"],
        n_problems=p["n_problems"],
        n_random=p["n_random"],
        seed=p["seed"],
    )
    write_overlays(
        plan,
        snakemake.output.overlays,
        long_side=p["long_side"],
        threads=snakemake.threads,
        log=log,
    )
