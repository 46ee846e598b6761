"""Predict the leaf masks of one shard (rule predict)."""

from pathlib import Path

import pandas as pd
import torch

from herbseg.files import write_csv
from herbseg.logs import job_log
from herbseg.model import load_model, resolve_device
from herbseg.predict import predict_shard
from herbseg.refine import RefineSettings

with job_log(snakemake.log[0]) as log:
    p = snakemake.params.predict
    torch.set_num_threads(snakemake.threads)
    device = resolve_device(p["device"])
    model = load_model(Path(snakemake.input.model), device)
    resized = pd.read_csv(snakemake.input.table, dtype={"sheet_id": str}, keep_default_na=False)
    sheets = pd.read_csv(snakemake.input.sheets, dtype=str, keep_default_na=False)
    table = predict_shard(
        model,
        resized,
        Path(snakemake.output.masks),
        device=device,
        batch_size=p["batch_size"],
        long_side=p["long_side"],
        threshold=p["threshold"],
        amp=p["amp"],
        channels_last=p["channels_last"],
        threads=snakemake.threads,
        sheets=sheets,
        refine=RefineSettings.from_config(p),
        tta=p["tta"],
        max_megapixels=snakemake.params.max_megapixels,
        log=log,
    )
    write_csv(table, snakemake.output.table)
