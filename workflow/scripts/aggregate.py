"""Concatenate the shard tables into the collection's leaf_area.csv and leaf_traits.csv."""

from herbseg.io.files import write_csv
from herbseg.io.logs import job_log
from herbseg.model.card import weights_sha256, with_model_column
from herbseg.stages.aggregate import aggregate
from herbseg.stages.specimens import rollup

with job_log(snakemake.log[0]) as log:
    sheets, leaves = aggregate(
        snakemake.input.manifest, snakemake.input.sheets, snakemake.input.leaves
    )
    sheets = with_model_column(sheets, weights_sha256(snakemake.input.model))
    write_csv(sheets, snakemake.output.sheets)
    write_csv(leaves, snakemake.output.leaves)
    specimens = rollup(sheets, leaves)
    write_csv(specimens, snakemake.output.specimens)
    log(
        f"{len(sheets)} sheets ({int((sheets['status'] == 'ok').sum())} measured), "
        f"{len(leaves)} leaves, {len(specimens)} specimens (leaf area summed over a "
        "specimen's sheets, intact-leaf traits the median of its intact leaves)"
    )
