"""Predict the leaf masks of one shard (rule predict)."""

from herbseg.io.logs import job_log

with job_log(snakemake.log[0]) as log:
    from herbseg.stages.predict import run

    run(snakemake.input, snakemake.output, snakemake.params, threads=snakemake.threads, log=log)
