"""Concatenate the shard tables into the collection's leaf_area.csv and leaf_traits.csv."""

from herbseg.aggregate import aggregate
from herbseg.logs import job_log
from herbseg.model_card import weights_sha256, with_model_column
from herbseg.specimens import rollup

with job_log(snakemake.log[0]) as log:
    sheets, leaves = aggregate(
        snakemake.input.manifest, snakemake.input.sheets, snakemake.input.leaves
    )
    sheets = with_model_column(sheets, weights_sha256(snakemake.input.model))
    sheets.to_csv(snakemake.output.sheets, index=False)
    leaves.to_csv(snakemake.output.leaves, index=False)
    specimens = rollup(sheets, leaves)
    specimens.to_csv(snakemake.output.specimens, index=False)
    log(
        f"{len(sheets)} sheets ({int((sheets['status'] == 'ok').sum())} measured), "
        f"{len(leaves)} leaves, {len(specimens)} specimens (leaf area summed over a "
        "specimen's sheets, intact-leaf traits the median of its intact leaves)"
    )
