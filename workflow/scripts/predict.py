"""Predict the leaf masks of one shard (rule predict)."""

from pathlib import Path

import pandas as pd
import torch

from herbseg.io.files import write_csv
from herbseg.io.logs import job_log
from herbseg.measurement.refine import RefineSettings
from herbseg.model.card import check_frames
from herbseg.model.network import load_model, read_card, resolve_device
from herbseg.model.tiles import TileSettings, predict_tiled_shard
from herbseg.stages.predict import predict_shard

with job_log(snakemake.log[0]) as log:
    p = snakemake.params.predict
    torch.set_num_threads(snakemake.threads)
    device = resolve_device(p["device"])
    model = load_model(Path(snakemake.input.model), device)
    resized = pd.read_csv(snakemake.input.table, dtype={"sheet_id": str}, keep_default_na=False)
    # The frames must be those the model was trained on (its card; start-up already checked).
    for frame, mode in (
        resized.loc[resized["status"] == "ok", ["frame", "mode"]].drop_duplicates().values
    ):
        check_frames(read_card(snakemake.input.model), int(frame), str(mode), snakemake.input.table)
    sheets = pd.read_csv(snakemake.input.sheets, dtype=str, keep_default_na=False)
    common = dict(
        device=device,
        batch_size=p["batch_size"],
        long_side=p["long_side"],
        threshold=p["threshold"],
        amp=p["amp"],
        channels_last=p["channels_last"],
        refine=RefineSettings.from_config(p),
        max_megapixels=snakemake.params.max_megapixels,
        log=log,
    )
    tiles = TileSettings.from_config(p)
    if (
        tiles.enabled
    ):  # sheets at predict.tiles.long_side, in overlapping tiles (herbseg.model.tiles)
        table = predict_tiled_shard(model, sheets, Path(snakemake.output.masks), tiles, **common)
    else:
        table = predict_shard(
            model,
            resized,
            Path(snakemake.output.masks),
            threads=snakemake.threads,
            sheets=sheets,
            tta=p["tta"],
            **common,
        )
    write_csv(table, snakemake.output.table)
