"""Train DeepLabV3+ on the train split, selecting the best model on the val split (rule train)."""

from pathlib import Path

import pandas as pd

from herbseg.io.logs import job_log
from herbseg.stages.train import TrainConfig, train

with job_log(snakemake.log[0]) as log:
    m, t = snakemake.params.model, snakemake.params.train
    split = pd.read_csv(snakemake.input.split, dtype={"sheet_id": str})
    frames = pd.concat([pd.read_csv(p, dtype={"sheet_id": str}) for p in snakemake.input.tables])
    items = split.merge(frames[frames["status"] == "ok"], on="sheet_id", how="left")
    if items["frame_path"].isna().any() or items["mask_frame_path"].isna().any():
        raise ValueError("split names sheets without resized frames or masks")

    def pairs(name):
        chosen = items[items["split"] == name]
        return [(Path(a), Path(b)) for a, b in zip(chosen["frame_path"], chosen["mask_frame_path"])]

    cfg = TrainConfig(
        encoder=m["encoder"],
        encoder_weights=m["encoder_weights"],
        encoder_weights_file=m["encoder_weights_file"],
        lr=t["lr"],
        batch_size=t["batch_size"],
        epochs=t["epochs"],
        loss=t["loss"],
        augment=dict(t["augment"]),
        device=t["device"],
        num_workers=t["num_workers"],
        seed=t["seed"],
        deterministic=t["deterministic"],
        amp=t["amp"],
        channels_last=t["channels_last"],
        patience=t["patience"],
        lr_schedule=t["lr_schedule"],
        threads=snakemake.threads,
        max_train_minutes=t["max_minutes"],
        init_from=t["init_from"],
    )
    result = train(
        pairs("train"), pairs("val"), Path(snakemake.output.history).parent, cfg, log=log
    )
    log(f"training done: {result}")
