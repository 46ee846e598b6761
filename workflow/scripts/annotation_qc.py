"""Check every training mask against its sheet (rule annotation_qc)."""

from herbseg.io.logs import job_log

with job_log(snakemake.log[0]) as log:
    from herbseg.stages.annotation_qc import run

    run(snakemake.input, snakemake.output, snakemake.params, threads=snakemake.threads, log=log)
