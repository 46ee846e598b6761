"""Draw leaf area and leaf count over the collection for the report (rule plot_collection)."""

from herbseg.io.logs import job_log

with job_log(snakemake.log[0]) as log:
    from herbseg.reporting.plots import run_collection as run

    run(snakemake.input, snakemake.output, snakemake.params, threads=snakemake.threads, log=log)
