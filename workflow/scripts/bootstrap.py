"""Candidate masks of unannotated sheets as COCO JSON, to correct in CVAT or Label Studio and feed
back through ingest (rule bootstrap)."""

from herbseg.io.logs import job_log

with job_log(snakemake.log[0]) as log:
    from herbseg.stages.bootstrap import run

    run(snakemake.input, snakemake.output, snakemake.params, threads=snakemake.threads, log=log)
