"""The real benchmark: colour baseline vs. DeepLabV3+ from scratch, from ImageNet, from synthetic.

All are scored on the same held-out real sheets with the workflow's own code
(``herbseg.stages.evaluate.evaluate``: pooled over all pixels, masks in sheet geometry), and all
networks get the same budget (epochs, frame size, encoder, batch, seed). Settings come from
``config/violaceae.yaml`` merged over ``config/config.yaml``, so the split and training are the
workflow's:

1. register the shipped masks onto their sheets (``violaceae_register.py``; cached);
2. ingest + resize the annotated sheets (``herbseg.stages.ingest``, ``herbseg.stages.resize``);
3. split: the workflow's split (``--folds 0``, 22/5/5 with seed 42) or ``--folds k``: k folds
   over all 32 sheets (ids sorted, shuffled with the split seed, dealt round-robin), each fold
   tested once with 4 of the remaining sheets as validation;
4. baseline (``herbseg.stages.baseline``, learned on train + val), scratch model and synthetic-init
   model (``herbseg.stages.train.train``), masks of the test sheets (``herbseg.stages.predict``),
   and each
   scored against the registered masks and the masks as shipped;
5. synthetic pre-training (once, cached): ``herbseg.synth.sheets.generate_collection`` sheets
through
   the same resize and training with the same encoder and frame size.

Run: .venv/bin/python benchmarks/violaceae.py [--folds 0] [--out results/violaceae/benchmark]
Writes ``<out>/results.csv`` (one row per method and truth), ``<out>/per_sheet.csv``,
``<out>/results.md`` and the run's wall times.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from violaceae_register import DATA, REPO, register_all  # noqa: E402

from herbseg.config.schema import merge_config  # noqa: E402
from herbseg.config.settings import settings_from  # noqa: E402
from herbseg.io.images import read_mask, write_mask  # noqa: E402
from herbseg.measurement.postprocess import PostprocessSettings, clean  # noqa: E402
from herbseg.model.network import load_model  # noqa: E402
from herbseg.stages.baseline import BaselineSettings, fit_rows, segment_rows  # noqa: E402
from herbseg.stages.evaluate import evaluate  # noqa: E402
from herbseg.stages.ingest import ingest  # noqa: E402
from herbseg.stages.predict import PredictSettings, predict_shard  # noqa: E402
from herbseg.stages.resize import resize_shard  # noqa: E402
from herbseg.stages.split import split_sheets  # noqa: E402
from herbseg.stages.train import TrainConfig, train  # noqa: E402
from herbseg.synth.sheets import generate_collection  # noqa: E402

TRAIN_KEYS = ("lr", "batch_size", "epochs", "loss", "seed", "lr_schedule", "patience", "size")


def merged_config(paths: list[Path]) -> dict:
    """``config/config.yaml`` with ``paths`` merged over it in order, as Snakemake merges
    ``--configfile a b``."""
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    for path in paths:
        cfg = merge_config(cfg, yaml.safe_load(path.read_text()))
    return cfg


def train_config(
    cfg: dict, args: argparse.Namespace, init_from: str | None, weights: str | None = None
) -> TrainConfig:
    t = {k: cfg["train"][k] for k in TRAIN_KEYS if k in cfg["train"]}
    if args.epochs:
        t["epochs"] = args.epochs
    return TrainConfig(
        encoder=cfg["model"]["encoder"],
        encoder_weights=weights,
        augment=dict(cfg["train"].get("augment", {})),
        device="cpu" if args.cpu else "auto",
        num_workers=int(cfg["train"].get("num_workers", 0)),
        threads=args.threads,
        init_from=init_from,
        **t,
    )


def prepare(out: Path, annotations: Path, size: int, log, keep_thin: bool = False) -> pd.DataFrame:
    """Ingest the collection and resize its annotated sheets: manifest rows + frame paths
    (``keep_thin``: ``resize.thin_labels``)."""
    manifest, _, _ = ingest(str(DATA / "images"), str(annotations), out / "ingest", log=log)
    rows = manifest[(manifest["status"] == "ok") & manifest["has_mask"]].reset_index(drop=True)
    resized = resize_shard(rows, out / "resize", frame=size, mode="squash", keep_thin=keep_thin,
                           threads=2, log=log)  # fmt: skip
    return resized.merge(rows.drop(columns=["status", "error", "mode"]), on="sheet_id")


def folds_of(ids: list[str], cfg: dict, k: int) -> list[pd.DataFrame]:
    """The splits to run: the workflow's one split, or ``k`` folds with 4 validation sheets."""
    s = cfg["split"]
    if k == 0:
        return [split_sheets(ids, {n: s[n] for n in ("train", "val", "test")}, s["seed"])]
    order = np.array(sorted(ids))[np.random.default_rng(s["seed"]).permutation(len(ids))]
    out = []
    for f in range(k):
        test = set(order[f::k])
        rest = [i for i in order if i not in test]
        val = set(rest[:4])
        label = ["test" if i in test else "val" if i in val else "train" for i in ids]
        out.append(pd.DataFrame({"sheet_id": ids, "split": label}))
    return out


def pairs(items: pd.DataFrame) -> list[tuple[Path, Path]]:
    return [(Path(a), Path(b)) for a, b in zip(items["frame_path"], items["mask_frame_path"])]


def pretrain(out: Path, cfg: dict, args: argparse.Namespace, log) -> tuple[Path, float]:
    """The synthetic model (cached by ``train``'s own resume: a finished run returns at once);
    returns its folder and its training seconds (all epochs, resumed ones included)."""
    synth = out / "synth"
    if not (synth / "truth.csv").exists():
        generate_collection(synth, args.synth_sheets, 2021, 1000, 1500, 150, workers=args.threads)
    manifest, _, _ = ingest(str(synth / "sheets"), str(synth / "masks"), synth / "ingest", log=log)
    rows = manifest[manifest["status"] == "ok"].reset_index(drop=True)
    resized = resize_shard(
        rows, synth / "resize", frame=cfg["resize"]["size"], threads=args.threads, log=log
    )
    items = resized[resized["status"] == "ok"].reset_index(drop=True)
    n_val = max(2, len(items) // 10)
    tc = train_config(cfg, args, None)
    tc.epochs = args.synth_epochs
    result = train(pairs(items[n_val:]), pairs(items[:n_val]), synth / "train", tc, log=log)
    log(f"synthetic pre-training: {result}")
    return synth / "train" / "model", float(result["seconds"])


def score(table: pd.DataFrame, truth: dict[str, str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    items = pd.DataFrame(
        {
            "sheet_id": table["sheet_id"],
            "pred_path": table["mask_path"],
            "truth_path": [truth[s] for s in table["sheet_id"]],
        }
    )
    return evaluate(items)


def postprocessed(table: pd.DataFrame, out_dir: Path, settings: PostprocessSettings):
    """The same masks after the workflow's clean-up (what ``measure`` sees)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = table.copy()
    paths = []
    for r in rows.itertuples():
        path = out_dir / Path(r.mask_path).name
        write_mask(path, clean(read_mask(r.mask_path), settings, scale=r.mask_w / r.sheet_w))
        paths.append(str(path))
    rows["mask_path"] = paths
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--config", type=Path, nargs="+", default=[REPO / "config" / "violaceae.yaml"],
        help="config files merged over config/config.yaml in order",
    )  # fmt: skip
    ap.add_argument("--out", type=Path, default=REPO / "results" / "violaceae" / "benchmark")
    ap.add_argument("--folds", type=int, default=0, help="0: the workflow's split; k: k folds")
    ap.add_argument("--epochs", type=int, default=None, help="override train.epochs")
    ap.add_argument("--synth-sheets", type=int, default=40)
    ap.add_argument("--synth-epochs", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--cpu", action="store_true", help="train on the CPU even with a GPU")
    ap.add_argument("--skip", nargs="*", default=[], choices=["scratch", "imagenet", "synth_init"])
    args = ap.parse_args()
    t_start = time.perf_counter()
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    lines: list[str] = []

    def log(msg: str) -> None:
        line = f"{time.strftime('%H:%M:%S')} {msg}"
        print(line, flush=True)
        lines.append(line)

    torch.set_num_threads(args.threads)
    device = torch.device("cuda" if torch.cuda.is_available() and not args.cpu else "cpu")
    cfg = merged_config(args.config)
    size = cfg["resize"]["size"]
    register_all(out.parent / "registered", log=log)
    reg = prepare(out / "registered", out.parent / "registered" / "masks", size, log)
    shipped = prepare(out / "shipped", DATA / "masks", size, log)
    truths = {
        "registered": dict(zip(reg["sheet_id"], reg["mask_path"])),
        "shipped": dict(zip(shipped["sheet_id"], shipped["mask_path"])),
    }
    ids = sorted(reg["sheet_id"])
    model_dir, synth_seconds = (None, 0.0)
    if "synth_init" not in args.skip:
        model_dir, synth_seconds = pretrain(out, cfg, args, log)
    base_settings = settings_from(BaselineSettings, cfg.get("baseline"), "baseline")
    refine = settings_from(PredictSettings, cfg["predict"], "predict").refine_for(
        cfg["model"].get("mask_class")
    )
    post = settings_from(PostprocessSettings, cfg.get("postprocess"), "postprocess")
    tables: dict[str, list[pd.DataFrame]] = {}
    seconds: dict[str, float] = {}  # this run's wall time per method
    train_seconds: dict[str, float] = {"synth_pretrain": synth_seconds}  # epochs, resumes included
    epochs_run: dict[str, list[int]] = {}
    for f, split in enumerate(folds_of(ids, cfg, args.folds)):
        fold = out / (f"fold{f}" if args.folds else "split")
        split.to_csv(out / f"{fold.name}_split.csv", index=False)
        items = reg.merge(split, on="sheet_id")
        test = items[items["split"] == "test"]
        log(
            f"{fold.name}: "
            + ", ".join(f"{k} {v}" for k, v in split["split"].value_counts().items())
        )

        t0 = time.perf_counter()
        fit = items[items["split"].isin(["train", "val"])]
        model = fit_rows(fit, base_settings, log=log) if base_settings.method == "learned" else None
        table = segment_rows(test, fold / "baseline", base_settings, model, log=log)
        tables.setdefault("baseline", []).append(table)
        seconds["baseline"] = seconds.get("baseline", 0.0) + time.perf_counter() - t0

        # the same encoder, split and budget: from scratch, from ImageNet, from synthetic sheets
        for name, init, weights in (
            ("scratch", None, None),
            ("imagenet", None, "imagenet"),
            ("synth_init", model_dir, None),
        ):
            if name in args.skip:
                continue
            t0 = time.perf_counter()
            tc = train_config(cfg, args, str(init) if init else None, weights)
            train_items = pairs(items[items["split"] == "train"])
            val_items = pairs(items[items["split"] == "val"])
            result = train(train_items, val_items, fold / name, tc, log=log)
            net = load_model(fold / name / "model", str(device))
            table = predict_shard(
                net, test, fold / name / "masks", device=device, batch_size=8,
                threshold=cfg["predict"].get("threshold", 0.5), threads=args.threads,
                sheets=test, refine=refine, log=log,
            )  # fmt: skip
            tables.setdefault(name, []).append(table)
            tables.setdefault(f"{name}+postprocess", []).append(
                postprocessed(table, fold / name / "masks_postprocessed", post)
            )
            seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - t0
            epochs_run.setdefault(name, []).append(result["epochs_run"])
            train_seconds[name] = train_seconds.get(name, 0.0) + float(result["seconds"])
            log(f"{fold.name} {name}: {result}")

    rows, per_sheet = [], []
    for method, parts in tables.items():
        table = pd.concat(parts, ignore_index=True)
        for truth_name, truth in truths.items():
            sheet_scores, summary = score(table, truth)
            rows.append({"method": method, "truth": truth_name, **summary.iloc[0].to_dict()})
            per_sheet.append(sheet_scores.assign(method=method, truth=truth_name))
    results = pd.DataFrame(rows)
    results.to_csv(out / "results.csv", index=False)
    pd.concat(per_sheet).to_csv(out / "per_sheet.csv", index=False)
    wall = time.perf_counter() - t_start
    tc = train_config(cfg, args, None)
    facts = {
        "split": "workflow split 22/5/5 (seed 42)" if args.folds == 0 else f"{args.folds}-fold",
        "frame": f"{size} px squash",
        "encoder": f"{tc.encoder} (DeepLabV3+; scratch: random init, imagenet: ImageNet init)",
        "training": f"{tc.epochs} epochs, batch {tc.batch_size}, lr {tc.lr:g}, {tc.loss}, "
        f"{tc.lr_schedule} schedule, best epoch by val IoU",
        "synthetic pre-training": "skipped"
        if "synth_init" in args.skip
        else f"{args.synth_sheets} synthetic sheets, {args.synth_epochs} epochs, same encoder "
        "and frame",
        "wall time (s)": ", ".join(f"{k} {v:.0f}" for k, v in seconds.items())
        + f"; total {wall:.0f}",
        "training time (s, sum of epochs; a resumed run counts its earlier epochs)": ", ".join(
            f"{k} {v:.0f}" for k, v in train_seconds.items()
        ),
        "epochs run": str(epochs_run),
        "machine": f"{platform.processor() or platform.machine()}, torch threads {args.threads}, "
        f"device {device}"
        + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""),
    }
    md = [
        "| method | truth | IoU | Dice | precision | recall | sheets |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results.itertuples():
        md.append(
            f"| {r.method} | {r.truth} | {r.iou:.3f} | {r.dice:.3f} | {r.precision:.3f} | "
            f"{r.recall:.3f} | {r.n_sheets} |"
        )
    md += ["", *(f"- {k}: {v}" for k, v in facts.items())]
    (out / "results.md").write_text("\n".join(md) + "\n")
    (out / "log.txt").write_text("\n".join(lines) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
