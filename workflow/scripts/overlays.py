"""Draw worst-test, doubtful, problem and random sheets with mask outlines (rule overlays)."""

from herbseg.io.logs import job_log

with job_log(snakemake.log[0]) as log:
    from herbseg.reporting.overlays import run

    run(snakemake.input, snakemake.output, snakemake.params, threads=snakemake.threads, log=log)
