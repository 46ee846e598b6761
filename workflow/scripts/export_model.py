"""Write <results>/model: the trained model with its complete card (rule export_model)."""

from herbseg.io.logs import job_log

with job_log(snakemake.log[0]) as log:
    from herbseg.stages.export_model import run

    run(snakemake.input, snakemake.output, snakemake.params, threads=snakemake.threads, log=log)
