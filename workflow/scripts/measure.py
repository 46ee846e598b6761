"""Measure leaf area and per-leaf traits of one shard (rule measure)."""

import pandas as pd

from herbseg.io.files import write_csv
from herbseg.io.logs import job_log
from herbseg.measurement.postprocess import PostprocessSettings
from herbseg.measurement.scale import load_scale_table
from herbseg.stages.measure import MeasureSettings, measure_shard

with job_log(snakemake.log[0]) as log:
    p = snakemake.params.measure
    settings = MeasureSettings(
        min_leaf_px=p["min_leaf_px"],
        min_solidity=p["min_solidity"],
        max_area_fraction=p["max_area_fraction"],
        exclude_edge=p["exclude_edge"],
        ruler=p["ruler"],
        min_ruler_confidence=p["min_ruler_confidence"],
        ruler_long_side=p["ruler_long_side"],
        min_dpi=p["min_dpi"],
        ignore_dpi=tuple(p["ignore_dpi"]),
        postprocess=PostprocessSettings.from_dict(snakemake.params.postprocess),
    )
    table = load_scale_table(snakemake.input.scale_table) if p["scale_table"] else None
    rows = pd.read_csv(snakemake.input.sheets, dtype=str, keep_default_na=False)
    preds = pd.read_csv(snakemake.input.predictions, dtype={"sheet_id": str}, keep_default_na=False)
    verdicts = None
    if "verdicts" in snakemake.input.keys():
        verdicts = pd.read_csv(snakemake.input.verdicts, dtype={"sheet_id": str})
    sheets, leaves = measure_shard(
        rows,
        preds,
        scale_table=table,
        scale_key=p["scale_key"],
        settings=settings,
        log=log,
        verdicts=verdicts,
    )
    write_csv(sheets, snakemake.output.sheets)
    write_csv(leaves, snakemake.output.leaves)
