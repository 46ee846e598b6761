"""Split the annotated sheets into train / val / test (rule split)."""

from herbseg.io.logs import job_log

with job_log(snakemake.log[0]) as log:
    from herbseg.stages.split import run

    run(snakemake.input, snakemake.output, snakemake.params, threads=snakemake.threads, log=log)
