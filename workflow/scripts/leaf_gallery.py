"""Contact sheets of the kept and rejected leaves, and the labels CSV (rule leaf_gallery)."""

from herbseg.io.logs import job_log

with job_log(snakemake.log[0]) as log:
    from herbseg.reporting.leaf_gallery import run

    run(snakemake.input, snakemake.output, snakemake.params, threads=snakemake.threads, log=log)
