"""Measure leaf area and per-leaf traits of one shard (rule measure)."""

from herbseg.io.logs import job_log

with job_log(snakemake.log[0]) as log:
    from herbseg.stages.measure import run

    run(snakemake.input, snakemake.output, snakemake.params, threads=snakemake.threads, log=log)
