"""Generate the synthetic demo collection (rule synth)."""

from herbseg.io.logs import job_log

with job_log(snakemake.log[0]) as log:
    from herbseg.stages.synth import run

    run(snakemake.input, snakemake.output, snakemake.params, threads=snakemake.threads, log=log)
