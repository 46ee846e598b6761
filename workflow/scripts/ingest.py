"""Find sheets and annotations, write the manifest, problems and shard lists (rule ingest)."""

from herbseg.io.logs import job_log

with job_log(snakemake.log[0]) as log:
    from herbseg.stages.ingest import run

    run(snakemake.input, snakemake.output, snakemake.params, threads=snakemake.threads, log=log)
