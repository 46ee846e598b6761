"""Resize one shard's sheets and masks into the network frame (rule resize)."""

from herbseg.io.logs import job_log

with job_log(snakemake.log[0]) as log:
    from herbseg.stages.resize import run

    run(snakemake.input, snakemake.output, snakemake.params, threads=snakemake.threads, log=log)
