"""Draw worst-test, problem and randomly chosen sheets with mask outlines (rule overlays)."""

import pandas as pd

from herbseg.io.logs import job_log
from herbseg.reporting.plots import plan_overlays, write_overlays


def read(path):
    return pd.read_csv(path, dtype=str, keep_default_na=False)


with job_log(snakemake.log[0]) as log:
    p = snakemake.params.report
    plan = plan_overlays(
        read(snakemake.input.manifest),
        read(snakemake.input.problems),
        # a run with a saved model (model.path) has no test sheets to rank
        read(snakemake.input.per_sheet)
        if "per_sheet" in snakemake.input.keys()
        else pd.DataFrame(columns=["sheet_id", "iou", "precision", "recall"]),
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
