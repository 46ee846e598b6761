"""Score every measured component of one shard as an intact leaf or not (rule classify)."""

import pandas as pd
import torch

from herbseg.io.files import write_csv
from herbseg.io.logs import job_log
from herbseg.model.leaf_classifier import load
from herbseg.stages.classify import ClassifySettings, classify_shard
from herbseg.stages.measure import MeasureSettings

with job_log(snakemake.log[0]) as log:
    torch.set_num_threads(snakemake.threads)
    c = snakemake.params.classify
    net, card = load(snakemake.input.model)
    rows = pd.read_csv(snakemake.input.sheets, dtype=str, keep_default_na=False)
    preds = pd.read_csv(snakemake.input.predictions, dtype={"sheet_id": str}, keep_default_na=False)
    table = classify_shard(
        rows,
        preds,
        net,
        card,
        MeasureSettings.from_config(snakemake.params.measure, snakemake.params.postprocess),
        ClassifySettings(threshold=c["threshold"], match_px=c["match_px"]),
        log=log,
    )
    write_csv(table, snakemake.output[0])
