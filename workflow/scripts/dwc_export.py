"""Write the measurements as a Darwin Core Archive (rule dwc_export)."""

from herbseg.io.logs import job_log

with job_log(snakemake.log[0]) as log:
    from herbseg.stages.dwc_export import run

    run(snakemake.input, snakemake.output, snakemake.params, threads=snakemake.threads, log=log)
