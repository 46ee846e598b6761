"""Score every measured component of one shard as an intact leaf or not (rule classify)."""

from herbseg.io.logs import job_log

with job_log(snakemake.log[0]) as log:
    from herbseg.stages.classify import run

    run(snakemake.input, snakemake.output, snakemake.params, threads=snakemake.threads, log=log)
