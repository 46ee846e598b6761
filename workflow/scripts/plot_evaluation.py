"""Draw the test scores for the report (rule plot_evaluation)."""

from herbseg.io.logs import job_log

with job_log(snakemake.log[0]) as log:
    from herbseg.reporting.plots import run_evaluation as run

    run(snakemake.input, snakemake.output, snakemake.params, threads=snakemake.threads, log=log)
