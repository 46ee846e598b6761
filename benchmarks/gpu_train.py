"""GPU training speed of the paper configuration: fp32 against bf16 autocast + channels_last.

One prepared script for a machine with a GPU. It renders ``--sheets`` synthetic sheets, sends
them through the workflow's own ingest and resize (512×512 frames), and trains DeepLabV3+
ResNet-101 with the paper's settings (Adam lr 1e-4, batch 3, BCE, the workflow's augmentation)
for ``--epochs`` epochs with ``herbseg.stages.train.train`` itself, once per variant:

* ``fp32``: no autocast, NCHW; PyTorch's defaults, under which cuDNN runs convolutions in TF32;
* ``fp32-strict``: the same with TF32 switched off (``torch.backends.cudnn.allow_tf32 = False``
  and ``torch.backends.cuda.matmul.allow_tf32 = False``): true fp32 arithmetic;
* ``bf16+cl``: bf16 autocast and channels_last, the workflow's default on CUDA.

Images/s counts training images over the training part of each epoch (validation and the
per-epoch checkpoint excluded); epoch 1 includes cuDNN's kernel search and the loader start-up,
so the steady figure is the last epoch's. Peak GPU memory is ``torch.cuda.max_memory_allocated``.

Run on the GPU machine:   python benchmarks/gpu_train.py
CPU smoke test of the code path:
    .venv/bin/python benchmarks/gpu_train.py --device cpu --sheets 6 --frame 64 \
        --encoder resnet18 --workers 0 --out /tmp/gpu_train_smoke.txt
Writes benchmarks/results/gpu_train.txt.
"""

from __future__ import annotations

import argparse
import functools
import os
import shutil
import tempfile
import time
from pathlib import Path

import torch
from _report import write_report

from herbseg.model.checkpoint import CHECKPOINT_NAME
from herbseg.stages.ingest import ingest
from herbseg.stages.resize import resize_shard
from herbseg.stages.train import TrainConfig, train
from herbseg.synth.sheets import generate_collection

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "benchmarks" / "results" / "gpu_train.txt"
VARIANTS = {  # name: (amp, channels_last, tf32)
    "fp32": (False, False, True),
    "fp32-strict": (False, False, False),
    "bf16+cl": (True, True, True),
}


def frames(root: Path, n: int, size: int, threads: int) -> list[tuple[Path, Path]]:
    """``(frame, mask)`` pairs of ``n`` synthetic sheets, made by the workflow's own stages."""
    generate_collection(root / "synth", n, 2021, 1000, 1500, 150, workers=threads)
    manifest, _, _ = ingest(
        str(root / "synth" / "sheets"), str(root / "synth" / "masks"), root / "ingest",
        log=lambda m: None,
    )  # fmt: skip
    rows = manifest[manifest["status"] == "ok"].reset_index(drop=True)
    table = resize_shard(rows, root / "resize", frame=size, threads=threads, log=lambda m: None)
    table = table[table["status"] == "ok"]
    return [(Path(a), Path(b)) for a, b in zip(table["frame_path"], table["mask_frame_path"])]


def probe(
    pairs: list[tuple[Path, Path]], args: argparse.Namespace, device: torch.device
) -> list[str]:
    """Where the time goes: optimiser steps on tensors already on the GPU (no loader), per
    variant and batch size, and the training loader alone (decode + augmentation)."""
    from torch.utils.data import DataLoader

    from herbseg.model.data import FrameDataset, build_augmentation
    from herbseg.model.graph_step import GraphedStep
    from herbseg.model.infer import autocast_for
    from herbseg.model.network import build_model

    def step(
        model: torch.nn.Module,
        opt: torch.optim.Optimizer,
        x: torch.Tensor,
        y: torch.Tensor,
        amp: bool,
    ) -> None:
        opt.zero_grad(set_to_none=True)
        with autocast_for(device, amp):
            logits = model(x)
        torch.nn.functional.binary_cross_entropy_with_logits(logits.float(), y).backward()
        opt.step()

    out = []
    for name in [*args.variants, *(f"{v}+graph" for v in args.variants)]:
        graphed = name.endswith("+graph")
        amp, cl, tf32 = VARIANTS[name.removesuffix("+graph")]
        set_tf32(tf32)
        fmt = torch.channels_last if cl else torch.contiguous_format
        torch.backends.cudnn.benchmark = True
        model = build_model(args.encoder, None).to(device=device, memory_format=fmt).train()
        for bs in (args.batch_size, 4 * args.batch_size):
            opt = torch.optim.Adam(model.parameters(), lr=1e-4)
            x = torch.randn(bs, 3, args.frame, args.frame, device=device)
            x = x.contiguous(memory_format=fmt)
            y = (torch.rand(bs, 1, args.frame, args.frame, device=device) > 0.5).float()
            if graphed:  # static buffers, one captured step replayed (herbseg.model.graph_step)
                run = GraphedStep(
                    model, opt, torch.nn.BCEWithLogitsLoss(), device,
                    autocast=lambda amp=amp: autocast_for(device, amp), memory_format=fmt,
                )  # fmt: skip
            else:
                run = functools.partial(step, model, opt, amp=amp)
            for _ in range(3):
                run(x, y)
            sync(device)
            n, t0 = 10, time.perf_counter()
            for _ in range(n):
                run(x, y)
            sync(device)
            rate = n * bs / (time.perf_counter() - t0)
            out.append(f"probe: {name:<12} batch {bs:>3}: {rate:7.1f} img/s (tensors on GPU)")
            print(out[-1], flush=True)
        set_tf32(True)
    ds = FrameDataset(*zip(*pairs, strict=True), build_augmentation(TrainConfig().augment))
    loader = DataLoader(ds, batch_size=args.batch_size, shuffle=True, num_workers=args.workers,
                        persistent_workers=args.workers > 0)  # fmt: skip
    for _ in range(2):
        t0, k = time.perf_counter(), 0
        for xb, _ in loader:
            k += len(xb)
        rate = k / (time.perf_counter() - t0)
    out.append(f"probe: loader alone, {args.workers} workers: {rate:.1f} img/s (2nd pass)")
    print(out[-1], flush=True)
    return out


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def set_tf32(on: bool) -> None:
    torch.backends.cudnn.allow_tf32 = on
    torch.backends.cuda.matmul.allow_tf32 = on


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--sheets", type=int, default=60)
    ap.add_argument("--val", type=int, default=6, help="of --sheets, held out for validation")
    ap.add_argument("--frame", type=int, default=512)
    ap.add_argument("--encoder", default="resnet101")
    ap.add_argument("--batch-size", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--workers", type=int, default=min(8, os.cpu_count() or 1))
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    ap.add_argument("--probe", action="store_true", help="also time steps without the loader")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()

    device = torch.device(args.device)
    cuda = device.type == "cuda"
    if cuda and not torch.cuda.is_available():
        raise SystemExit("no CUDA device here; use --device cpu for a smoke test")
    if cuda:
        p = torch.cuda.get_device_properties(device)
        card = (
            f"{p.name}, {p.total_memory / 2**30:.0f} GiB, compute {p.major}.{p.minor}, "
            f"CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}"
        )
    else:
        card = "CPU (smoke test: figures mean nothing)"
    root = Path(tempfile.mkdtemp(prefix="herbseg_gpu_train_"))
    rows: list[dict] = []
    try:
        t0 = time.perf_counter()
        pairs = frames(root, args.sheets, args.frame, os.cpu_count() or 1)
        setup_s = time.perf_counter() - t0
        val, trn = pairs[: args.val], pairs[args.val :]
        probes = probe(trn, args, device) if args.probe else []
        for name in args.variants:
            amp, cl, tf32 = VARIANTS[name]
            cfg = TrainConfig(
                encoder=args.encoder,
                encoder_weights=None,
                batch_size=args.batch_size,
                epochs=args.epochs,
                device=args.device,
                num_workers=args.workers,
                amp=amp,
                channels_last=cl,
            )
            saved = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
            set_tf32(tf32)
            if cuda:
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats(device)
            out = root / "runs" / name
            try:
                result = train(trn, val, out, cfg, log=lambda m: None)
            finally:
                torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved
            peak = torch.cuda.max_memory_allocated(device) / 2**20 if cuda else float("nan")
            ckpt = torch.load(out / CHECKPOINT_NAME, map_location="cpu", weights_only=True)
            per_epoch = [len(trn) / float(r["train_seconds"]) for r in ckpt["history"]]
            row = {
                "variant": name,
                "per_epoch": per_epoch,
                "overall": result["images_per_second"],
                "peak_mb": peak,
                "val_iou": result["best_val_iou"],
            }
            rows.append(row)
            print(row, flush=True)
            shutil.rmtree(out, ignore_errors=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)

    lines = [
        f"training speed, DeepLabV3+ {args.encoder} from scratch, {args.frame}×{args.frame}, "
        f"batch {args.batch_size}, Adam 1e-4, BCE, {args.epochs} epochs of {len(trn)} synthetic "
        f"frames (+{len(val)} val), {args.workers} loader workers, torch {torch.__version__}",
        f"device: {card}; host: {os.cpu_count()} CPUs; set-up (render + ingest + resize) "
        f"{setup_s:.0f} s",
        f"{'variant':<12} {'img/s per epoch':<24} {'img/s all':>9} {'GPU peak MB':>12}",
    ]
    for r in rows:
        epochs = ", ".join(f"{v:.1f}" for v in r["per_epoch"])
        lines.append(f"{r['variant']:<12} {epochs:<24} {r['overall']:>9.1f} {r['peak_mb']:>12.0f}")
    by = {r["variant"]: r for r in rows}
    if "bf16+cl" in by:
        for ref in ("fp32", "fp32-strict"):
            if ref in by:
                last = by["bf16+cl"]["per_epoch"][-1] / by[ref]["per_epoch"][-1]
                lines.append(f"bf16+cl / {ref}: last epoch {last:.2f}×")
    lines += probes
    write_report(lines, args.out)


if __name__ == "__main__":
    main()
