"""Score the test split's predicted masks against their annotations (rule evaluate)."""

from herbseg.io.logs import job_log

with job_log(snakemake.log[0]) as log:
    from herbseg.stages.evaluate import run

    run(snakemake.input, snakemake.output, snakemake.params, threads=snakemake.threads, log=log)
