"""Split the annotated sheets into train / val / test (rule split)."""

import pandas as pd

from herbseg.io.files import write_csv
from herbseg.io.logs import job_log
from herbseg.stages.annotation_qc import excluded_ids
from herbseg.stages.split import split_sheets

with job_log(snakemake.log[0]) as log:
    p = snakemake.params.split
    if not snakemake.input.tables:  # pd.concat would say "No objects to concatenate"
        raise ValueError(
            f"no sheet has a mask in annotations {snakemake.config['annotations']!r} (see "
            "ingest/problems.csv for unmatched masks): name masks like their sheets "
            "(<sheet stem>.png or <sheet stem>_mask.png), or set model.path to a saved herbseg "
            "model to measure the sheets without training"
        )
    resized = pd.concat([pd.read_csv(t, dtype={"sheet_id": str}) for t in snakemake.input.tables])
    sheets = pd.concat(
        [pd.read_csv(t, dtype=str, keep_default_na=False) for t in snakemake.input.sheets]
    )
    usable = resized[(resized["status"] == "ok") & resized["mask_frame_path"].notna()]
    # Masks annotation QC left out (each with its reason row in ingest/annotation_qc.csv).
    excluded = excluded_ids(pd.read_csv(snakemake.input.qc, dtype={"sheet_id": str}))
    if excluded:
        log(f"left out by annotation QC: {len(excluded)} masks ({', '.join(sorted(excluded))})")
    usable = usable[~usable["sheet_id"].isin(excluded)]
    groups = None
    if p["group_column"]:
        lookup = sheets.set_index("sheet_id")[p["group_column"]]
        groups = lookup.reindex(usable["sheet_id"]).fillna("").tolist()
    split = split_sheets(usable["sheet_id"].tolist(), p, p["seed"], groups)
    write_csv(split, snakemake.output[0])
    log(
        f"split {len(split)} annotated sheets: "
        + ", ".join(f"{k} {v}" for k, v in split["split"].value_counts().sort_index().items())
    )
