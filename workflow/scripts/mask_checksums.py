"""Size and sha256 of one shard's predicted masks, for the bundle (rule mask_checksums)."""

from pathlib import Path

from herbseg.bundle import mask_checksums
from herbseg.files import write_csv
from herbseg.logs import job_log

with job_log(snakemake.log[0]) as log:
    table = mask_checksums(
        snakemake.input.table,
        Path(snakemake.output[0]).parents[2],  # <results>/checksums/masks/<shard>.csv
        snakemake.wildcards.shard,
        threads=snakemake.threads,
        log=log,
    )
    write_csv(table, snakemake.output[0])
