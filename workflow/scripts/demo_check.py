"""Compare the demo's measurements with the generator's truth (rule demo_check)."""

from herbseg.io.logs import job_log

with job_log(snakemake.log[0]) as log:
    from herbseg.reporting.demo_check import run

    run(snakemake.input, snakemake.output, snakemake.params, threads=snakemake.threads, log=log)
