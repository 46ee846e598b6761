"""Fit the classical baseline on the train and val sheets and score it on the test sheets
(rule baseline), with the same split, mask geometry and scoring code as the network."""

from herbseg.io.logs import job_log

with job_log(snakemake.log[0]) as log:
    from herbseg.stages.baseline import run

    run(snakemake.input, snakemake.output, snakemake.params, threads=snakemake.threads, log=log)
