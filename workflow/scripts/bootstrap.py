"""Candidate masks of unannotated sheets as COCO JSON, to correct in CVAT or Label Studio and feed
back through ingest (rule bootstrap)."""

import json

import pandas as pd

from herbseg.io.files import write_csv
from herbseg.io.images import read_mask
from herbseg.io.logs import job_log
from herbseg.measurement.postprocess import PostprocessSettings, clean
from herbseg.stages.baseline import BaselineSettings, load_fitted, load_sheet, segment, working_size
from herbseg.stages.bootstrap import BootstrapSettings, build_coco, select_sheets, sheets_root

with job_log(snakemake.log[0]) as log:
    p = snakemake.params
    settings = BootstrapSettings.from_dict(p.bootstrap)
    cleanup = PostprocessSettings.from_dict(p.postprocess)
    manifest = pd.read_csv(snakemake.input.manifest, dtype=str, keep_default_na=False)
    chosen = select_sheets(manifest, settings.max_sheets, settings.seed)
    root = sheets_root(p.sheets, manifest.loc[manifest["status"] == "ok", "path"])
    log(f"{len(chosen)} of the unannotated sheets drawn (seed {settings.seed}); source {p.source}")

    if p.source == "model":
        preds = pd.concat(
            [pd.read_csv(t, dtype={"sheet_id": str}) for t in snakemake.input.predictions]
        )
        preds = preds[preds["status"] == "ok"].set_index("sheet_id")
        missing = sorted(set(chosen["sheet_id"]) - set(preds.index))
        if missing:  # failed in predict: their rows there say why
            log(f"{len(missing)} drawn sheets have no prediction and are left out")
            chosen = chosen[~chosen["sheet_id"].isin(missing)]

        def candidate(row):
            mask = read_mask(preds.loc[row["sheet_id"], "mask_path"])
            return clean(mask, cleanup, scale=mask.shape[1] / int(row["width"]))

    else:
        base = BaselineSettings.from_dict(p.baseline)
        fitted = (
            load_fitted(snakemake.input.baseline) if "baseline" in snakemake.input.keys() else None
        )
        if fitted is None and base.method == "learned":
            log("no fitted baseline (no annotations): Otsu's threshold instead")
            base = BaselineSettings.from_dict({**p.baseline, "method": "otsu"})

        def candidate(row):
            w, h = int(row["width"]), int(row["height"])
            mask = segment(
                load_sheet(row, base), base, fitted, working_size(w, h, base.long_side), w
            )
            return clean(mask, cleanup, scale=mask.shape[1] / w)

    coco, table = build_coco(
        chosen, candidate, root, settings, description=f"herbseg bootstrap ({p.source})", log=log
    )
    with open(snakemake.output.coco, "w", encoding="utf-8") as fh:
        json.dump(coco, fh)
    write_csv(table, snakemake.output.table)
