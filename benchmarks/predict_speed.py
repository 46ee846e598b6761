"""CPU predict of a shard: the naive per-sheet loop against ``predict_shard`` as the workflow runs.

Both get the same resized frames (``resize_shard`` of synthetic sheets) and the same network,
DeepLabV3+ with a ResNet-101 encoder (random weights: speed does not depend on them), and both do
the whole per-sheet work: decode the frame, run the network, bring the probabilities back onto the
sheet, threshold and write the PNG mask.

- naive: eager fp32, batch 1, torch's default thread count, NCHW, ``torch.no_grad``, a Python loop.
- ours: ``herbseg.stages.predict.predict_shard`` with the workflow's settings
(``predict.batch_size``
  and ``predict.channels_last`` from config/config.yaml, ``torch.set_num_threads(threads)`` as
  the rule's script does it, ``inference_mode``, frames decoded ahead and masks written behind
  in threads).
- ours + CPU bf16 (``--bf16``, on by default where the CPU has avx512_bf16 or AMX): the same
  call inside ``torch.autocast("cpu", bfloat16)``. Not what the workflow does today (infer.py
  keeps autocast off on CPUs); it shows what enabling it would give and how much the masks move.

Rounds alternate the variants (A B C, C B A, ...) so that load from other processes on a shared
machine hits all of them alike; the table has each round and the mean, and the mask agreement
(pooled IoU) of each variant with the naive masks; pass ``--model`` with a trained model for the
IoU to mean anything (random weights may call nothing a leaf).

Run: .venv/bin/python benchmarks/predict_speed.py [--n 16] [--rounds 2] [--threads 2]
Writes benchmarks/results/predict_speed.txt.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml
from _report import write_report
from PIL import Image

from herbseg.io.geometry import Geometry, frame_to_sheet, output_size
from herbseg.io.images import load_rgb, read_mask, write_mask
from herbseg.model.network import build_model, load_model, preprocess, save_model
from herbseg.stages.predict import predict_shard
from herbseg.stages.resize import resize_shard
from herbseg.synth.sheets import generate_sheet

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "benchmarks" / "results" / "predict_speed.txt"
DEFAULT_THREADS = torch.get_num_threads()  # torch's own default, read before anything sets it


def cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    line = next((x for x in text.splitlines() if x.startswith("flags")), "")
    return set(line.split(":", 1)[-1].split())


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def make_shard(root: Path, n: int, width: int, height: int, frame: int) -> pd.DataFrame:
    """``n`` synthetic sheets as JPEGs, resized the workflow's way; returns the resize table."""
    rows = []
    for i in range(n):
        path = root / "sheets" / f"sheet{i:03d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(generate_sheet(i, width=width, height=height).rgb).save(path, quality=90)
        rows.append({"sheet_id": f"sheet{i:03d}", "path": str(path), "width": width,
                     "height": height, "status": "ok", "error": "", "mask_path": ""})  # fmt: skip
    return resize_shard(pd.DataFrame(rows), root / "resize", frame=frame, threads=2,
                        log=lambda m: None)  # fmt: skip


def naive(model: torch.nn.Module, table: pd.DataFrame, out_dir: Path, threshold: float) -> None:
    """One sheet at a time, the way a first script would do it."""
    torch.set_num_threads(DEFAULT_THREADS)
    model.eval()
    out_dir.mkdir(parents=True, exist_ok=True)
    for row in table.to_dict("records"):
        rgb = load_rgb(row["frame_path"])
        with torch.no_grad():
            prob = torch.sigmoid(model(preprocess(rgb[None])))[0, 0].numpy()
        geom = Geometry.from_row(row)
        w, h = output_size(geom.sheet_w, geom.sheet_h, None)
        write_mask(out_dir / f"{row['sheet_id']}.png", frame_to_sheet(prob, geom, w, h, threshold))


def ours(model: torch.nn.Module, table: pd.DataFrame, out_dir: Path, settings: dict) -> None:
    """``predict_shard`` with the settings the workflow's predict rule passes."""
    torch.set_num_threads(settings["threads"])
    predict_shard(
        model,
        table,
        out_dir,
        device=torch.device("cpu"),
        batch_size=settings["batch_size"],
        threshold=settings["threshold"],
        amp=settings["amp"],
        channels_last=settings["channels_last"],
        threads=settings["threads"],
        log=lambda m: None,
    )


def ours_bf16(model: torch.nn.Module, table: pd.DataFrame, out_dir: Path, settings: dict) -> None:
    with torch.autocast("cpu", dtype=torch.bfloat16):
        ours(model, table, out_dir, settings)


def mask_agreement(a_dir: Path, b_dir: Path) -> tuple[float, float]:
    """Pooled IoU of two folders of same-named masks, and the leaf fraction of the first.

    The IoU is NaN when neither has a leaf pixel: with random weights a network may call nothing
    a leaf, and an IoU of 1 would then say nothing about precision.
    """
    inter = union = fg = px = 0
    for a_path in sorted(a_dir.glob("*.png")):
        a, b = read_mask(a_path), read_mask(b_dir / a_path.name)
        inter += int((a & b).sum())
        union += int((a | b).sum())
        fg += int(a.sum())
        px += a.size
    return (inter / union if union else float("nan")), (fg / px if px else float("nan"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=16, help="sheets (a multiple of the batch size)")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2, help="the predict job's threads")
    ap.add_argument("--encoder", default="resnet101")
    ap.add_argument("--frame", type=int, default=512)
    ap.add_argument("--sheet", default="2000x3000", help="sheet size W×H (masks are this size)")
    ap.add_argument("--batch-size", type=int, help="default: predict.batch_size of the config")
    ap.add_argument("--bf16", choices=["auto", "yes", "no"], default="auto")
    ap.add_argument("--model", type=Path, help="a saved herbseg model (default: random weights)")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()

    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    predict_cfg = config.get("predict", {})
    settings = {
        "batch_size": args.batch_size or predict_cfg.get("batch_size", 8),
        "threshold": predict_cfg.get("threshold", 0.5),
        "amp": predict_cfg.get("amp", True),
        "channels_last": predict_cfg.get("channels_last", True),
        "threads": args.threads,
    }
    flags = cpu_flags()
    has_bf16 = bool({"avx512_bf16", "amx_bf16"} & flags)
    use_bf16 = args.bf16 == "yes" or (args.bf16 == "auto" and has_bf16)
    width, height = (int(v) for v in args.sheet.lower().split("x"))

    root = Path(tempfile.mkdtemp(prefix="herbseg_predict_speed_"))
    try:
        t0 = time.perf_counter()
        table = make_shard(root, args.n, width, height, args.frame)
        setup_s = time.perf_counter() - t0
        if args.model is None:
            save_model(build_model(args.encoder, None), root / "model", {"encoder": args.encoder})
        variants: dict[str, Callable[[Path], None]] = {}
        model_dir = args.model or root / "model"
        models = {name: load_model(model_dir) for name in ("naive", "ours", "ours_bf16")}
        variants["naive"] = lambda out: naive(models["naive"], table, out, settings["threshold"])
        variants["ours"] = lambda out: ours(models["ours"], table, out, settings)
        if use_bf16:
            variants["ours_bf16"] = lambda out: ours_bf16(models["ours_bf16"], table, out, settings)
        # warm-up: oneDNN builds its kernels per shape on the first call; a shard of 1000 sheets
        # pays that once, so neither side pays it here
        warm = table.head(settings["batch_size"])
        naive(models["naive"], warm.head(1), root / "warm", settings["threshold"])
        ours(models["ours"], warm, root / "warm", settings)
        if use_bf16:
            ours_bf16(models["ours_bf16"], warm, root / "warm", settings)

        names = list(variants)
        rates: dict[str, list[float]] = {name: [] for name in names}
        for r in range(args.rounds):
            for name in names if r % 2 == 0 else names[::-1]:
                out = root / "out" / name
                shutil.rmtree(out, ignore_errors=True)
                t0 = time.perf_counter()
                variants[name](out)
                rates[name].append(args.n / (time.perf_counter() - t0))
                print(f"round {r + 1} {name}: {rates[name][-1]:.3f} sheets/s", flush=True)
        naive_out = root / "out" / "naive"
        agree = {name: mask_agreement(naive_out, root / "out" / name) for name in names}
    finally:
        shutil.rmtree(root, ignore_errors=True)

    model_label = args.model or "random weights (mask IoU means little: use --model)"
    load = os.getloadavg()
    base = float(np.mean(rates["naive"]))
    labels = {
        "naive": f"naive: fp32, batch 1, {DEFAULT_THREADS} threads (default), NCHW, loop",
        "ours": (
            f"predict_shard: fp32, batch {settings['batch_size']}, {settings['threads']} threads, "
            f"{'channels_last' if settings['channels_last'] else 'NCHW'}, prefetch"
        ),
        "ours_bf16": "predict_shard + CPU bf16 autocast (not in the workflow)",
    }
    lines = [
        f"CPU predict, DeepLabV3+ {args.encoder}, {args.frame}×{args.frame} frames, masks written "
        f"at {width}×{height}, {args.n} sheets × {args.rounds} rounds",
        f"{cpu_name()}, {os.cpu_count()} CPUs, bf16 instructions: {'yes' if has_bf16 else 'no'}, "
        f"torch {torch.__version__}, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, "
        f"set-up (synthesis + resize) {setup_s:.0f} s",
        f"model: {model_label}, leaf fraction of the naive masks {agree['naive'][1]:.4f}",
        f"{'variant':<74} {'sheets/s per round':>22} {'mean':>7} {'× naive':>8} {'IoU':>6}",
    ]
    for name in names:
        per_round = " ".join(f"{v:.3f}" for v in rates[name])
        mean = float(np.mean(rates[name]))
        lines.append(
            f"{labels[name]:<74} {per_round:>22} {mean:>7.3f} {mean / base:>8.2f} "
            f"{agree[name][0]:>6.4f}"
        )
    write_report(lines, args.out)


if __name__ == "__main__":
    main()
