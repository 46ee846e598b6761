"""Train DeepLabV3+ on the train split, selecting the best model on the val split (rule train)."""

from herbseg.io.logs import job_log

with job_log(snakemake.log[0]) as log:
    from herbseg.stages.train import run

    run(snakemake.input, snakemake.output, snakemake.params, threads=snakemake.threads, log=log)
