"""Size and sha256 of one shard's predicted masks, for the bundle (rule mask_checksums)."""

from herbseg.io.logs import job_log

with job_log(snakemake.log[0]) as log:
    from herbseg.reporting.mask_checksums import run

    run(snakemake.input, snakemake.output, snakemake.params, threads=snakemake.threads, log=log)
