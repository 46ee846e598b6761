"""Scale evidence crops and the refused-scale problem table (rule scale_evidence)."""

from herbseg.io.logs import job_log

with job_log(snakemake.log[0]) as log:
    from herbseg.reporting.scale_evidence import run

    run(snakemake.input, snakemake.output, snakemake.params, threads=snakemake.threads, log=log)
