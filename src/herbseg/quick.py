"""Predict and measure a few sheets without the workflow (``herbseg predict``).

The same stage functions the workflow's jobs call, in the same order and with the same config
keys: ingest's file facts, resize into the network frame, predict (with edge refinement), measure.
So a sheet measured here has the leaf area the workflow gives it with the same model and config.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from herbseg.io.files import write_csv
from herbseg.io.sheets import sheet_id_for
from herbseg.stages.ingest import build_manifest


def _rows(paths: Sequence[str | os.PathLike], config: dict[str, Any]) -> pd.DataFrame:
    """Manifest rows of the given files, ids from their path relative to their common folder."""
    files = [Path(p).absolute() for p in paths]
    root = Path(os.path.commonpath([str(p.parent) for p in files]))
    sheets = pd.DataFrame(
        {"sheet_id": [sheet_id_for(p, root) for p in files], "path": [str(p) for p in files]}
    )
    ingest = config["ingest"]
    manifest = build_manifest(
        sheets, {}, max_megapixels=ingest["max_megapixels"], checksum=ingest["checksum"]
    )
    manifest["shard"] = "cli"
    return manifest.astype(str).replace({"<NA>": "", "nan": "", "None": ""})


def predict_sheets(
    paths: Sequence[str | os.PathLike],
    model_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    config: dict[str, Any],
    *,
    threads: int = 1,
    overlays: bool = True,
    log: Callable[[str], None] = print,
) -> pd.DataFrame:
    """Write ``masks/``, ``overlays/``, ``leaf_area.csv`` and ``leaf_traits.csv`` under
    ``out_dir``; returns the leaf-area table (one row per given file, errors included)."""
    import torch

    from herbseg.config.settings import settings_from
    from herbseg.model.card import read_card
    from herbseg.model.network import load_model, resolve_device
    from herbseg.reporting.overlays import OverlayItem, _measure_text, render_overlay
    from herbseg.stages.measure import measure_settings, measure_shard
    from herbseg.stages.predict import PredictSettings, for_this_cpu, predict_masks
    from herbseg.stages.resize import resize_shard

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = _rows(paths, config)
    torch.set_num_threads(threads)
    max_mp = config["ingest"]["max_megapixels"]
    p = settings_from(PredictSettings, config["predict"], "predict")
    device = resolve_device(p.device)
    model = load_model(Path(model_dir), device)
    with tempfile.TemporaryDirectory(prefix="herbseg-frames-") as tmp:
        resized = resize_shard(
            rows, Path(tmp), frame=config["resize"]["size"], mode=config["resize"]["mode"],
            max_megapixels=max_mp, threads=threads, log=log,
        )  # fmt: skip
        resized = resized.astype({"sheet_id": str})
        net = (
            model
            if device.type != "cpu"
            else for_this_cpu(model, resized, p, threads, log, model_dir)
        )
        preds = predict_masks(
            net, resized, rows, out / "masks", p, read_card(model_dir),
            device=device, threads=threads, max_megapixels=max_mp, log=log,
        )  # fmt: skip
    settings = measure_settings(config["measure"], config["postprocess"])
    preds = preds.astype({"sheet_id": str}).fillna("")
    sheets, leaves = measure_shard(rows, preds, settings=settings, log=log, threads=threads)
    sheets = sheets.drop(columns=["shard"])
    write_csv(sheets, out / "leaf_area.csv")
    write_csv(leaves, out / "leaf_traits.csv")
    if overlays:
        for row in sheets[sheets["status"] == "ok"].to_dict("records"):
            item = OverlayItem("random", row["sheet_id"], row["path"],
                               f"{row['sheet_id']}: {_measure_text(row)}",
                               predicted_mask=row["predicted_mask"])  # fmt: skip
            render_overlay(item, out / "overlays" / f"{row['sheet_id']}.jpg")
    return sheets
