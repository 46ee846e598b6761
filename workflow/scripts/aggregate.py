"""Concatenate the shard tables into the collection's leaf_area.csv and leaf_traits.csv."""

from herbseg.aggregate import aggregate
from herbseg.files import write_csv
from herbseg.logs import job_log

with job_log(snakemake.log[0]) as log:
    sheets, leaves = aggregate(
        snakemake.input.manifest, snakemake.input.sheets, snakemake.input.leaves
    )
    write_csv(sheets, snakemake.output.sheets)
    write_csv(leaves, snakemake.output.leaves)
    log(
        f"{len(sheets)} sheets ({int((sheets['status'] == 'ok').sum())} measured), "
        f"{len(leaves)} leaves"
    )
