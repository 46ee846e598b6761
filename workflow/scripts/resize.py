"""Resize one shard's sheets and masks into the network frame (rule resize)."""

from pathlib import Path

import pandas as pd

from herbseg.io.files import write_csv
from herbseg.io.logs import job_log
from herbseg.stages.resize import resize_shard

with job_log(snakemake.log[0]) as log:
    rows = pd.read_csv(snakemake.input.sheets, dtype={"sheet_id": str}, keep_default_na=False)
    table = resize_shard(
        rows,
        Path(snakemake.output.table).parent,
        frame=snakemake.params.resize["size"],
        mode=snakemake.params.resize["mode"],
        max_megapixels=snakemake.params.max_megapixels,
        threads=snakemake.threads,
        log=log,
    )
    write_csv(table, snakemake.output.table)
