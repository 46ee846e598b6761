"""Train the intact-leaf classifier on components with a known verdict (rule classify_train)."""

from herbseg.io.logs import job_log

with job_log(snakemake.log[0]) as log:
    from herbseg.stages.classify_train import run

    run(snakemake.input, snakemake.output, snakemake.params, threads=snakemake.threads, log=log)
