"""Concatenate the shard tables into the collection's leaf_area.csv, leaf_traits.csv and
specimens.csv (rule aggregate)."""

from herbseg.io.logs import job_log

with job_log(snakemake.log[0]) as log:
    from herbseg.stages.aggregate import run

    run(snakemake.input, snakemake.output, snakemake.params, threads=snakemake.threads, log=log)
