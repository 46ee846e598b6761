"""Size and sha256 of one shard's predicted masks, for the bundle (rule mask_checksums)."""

from pathlib import Path

from herbseg.io.files import write_csv
from herbseg.io.logs import job_log
from herbseg.reporting.bundle import mask_checksums

with job_log(snakemake.log[0]) as log:
    table = mask_checksums(
        snakemake.input.table,
        Path(snakemake.output[0]).parents[2],  # <results>/checksums/masks/<shard>.csv
        snakemake.wildcards.shard,
        threads=snakemake.threads,
        log=log,
    )
    write_csv(table, snakemake.output[0])
