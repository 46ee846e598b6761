"""Check every training mask against its sheet (rule annotation_qc)."""

from pathlib import Path

import pandas as pd

from herbseg.io.files import write_csv
from herbseg.io.logs import job_log
from herbseg.stages.annotation_qc import QCSettings, annotation_qc

with job_log(snakemake.log[0]) as log:
    lists = [pd.read_csv(p, dtype={"sheet_id": str}) for p in snakemake.input.shards]
    manifest = (
        pd.concat(lists, ignore_index=True)
        if lists
        else pd.DataFrame(columns=["sheet_id", "status", "has_mask"])
    )
    settings = QCSettings.from_config(
        snakemake.params.qc, snakemake.params.mask_class, snakemake.params.aspect_tolerance
    )
    table = annotation_qc(manifest, settings, Path(snakemake.output.overlays), log=log)
    write_csv(table, snakemake.output.table)
