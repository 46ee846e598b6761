"""GPU predict throughput (sheets/s): fp32 against bf16 + channels_last, and where decoding binds.

One prepared script for a machine with a GPU (DeepLabV3+ ResNet-101, 512×512 frames, random
weights: speed does not depend on them). Every variant runs the same ``n`` sheets after a warm-up
batch and reports sheets/s and the peak GPU memory:

1. ``memory``: frames already decoded in memory, ``herbseg.model.infer.predict_proba`` only: the
   network's own rate, fp32 NCHW against bf16 autocast + channels_last (the workflow's default).
   (Until 2026-11-27 ``predict_proba`` normalised on the CPU and copied float32; a ``memory_u8``
   row here measured uint8 copied from pinned memory and normalised on the GPU, 1.7× faster on
   an H100, and ``herbseg.model.network.preprocess`` now does that: BENCHMARKS.md has both figures.)
2. ``png``: pre-resized 512×512 PNG frames (what the resize stage writes) decoded by a thread
   pool ahead of the network, as ``predict_shard`` does; ``shard``: ``predict_shard`` itself,
   end to end, masks written at the sheet's size (or at ``--long-side``).
3. ``jpeg_draft``: full-size JPEG sheets decoded at reduced scale (Pillow draft, herbseg's reader)
   and squashed to the frame; ``jpeg_full``: the same without draft, a full 24 MP decode.
4. ``decode only`` rows: the loaders alone with the same threads, the ceiling each puts on 2-3.

Run on the GPU machine:   .venv/bin/python benchmarks/gpu_predict.py
CPU smoke test of the code path:
    .venv/bin/python benchmarks/gpu_predict.py --device cpu --n 4 --frame 64 \
        --encoder resnet18 --sheet 400x600 --batch-size 2 --out /tmp/gpu_smoke.txt
Writes benchmarks/results/gpu_predict.txt.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import tempfile
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from _report import write_report
from PIL import Image

from herbseg.io.geometry import image_to_frame, plan
from herbseg.io.images import load_rgb
from herbseg.model.infer import predict_proba
from herbseg.model.network import build_model
from herbseg.stages.predict import predict_shard
from herbseg.stages.resize import resize_shard
from herbseg.synth.sheets import generate_sheet

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "benchmarks" / "results" / "gpu_predict.txt"


@dataclass
class Result:
    name: str
    precision: str
    sheets_per_s: float
    peak_gpu_mb: float | None


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def make_sheets(root: Path, n: int, width: int, height: int, distinct: int) -> list[Path]:
    """``n`` full-size JPEG sheets: ``distinct`` rendered ones, hard-linked to the rest (a 24 MP
    synthetic sheet takes seconds to render; decoding a link costs the same as decoding a copy)."""
    (root / "sheets").mkdir(parents=True)
    originals = []
    for i in range(min(distinct, n)):
        path = root / "sheets" / f"sheet{i:05d}.jpg"
        Image.fromarray(generate_sheet(i, width=width, height=height).rgb).save(path, quality=90)
        originals.append(path)
    paths = list(originals)
    for i in range(len(originals), n):
        path = root / "sheets" / f"sheet{i:05d}.jpg"
        try:
            os.link(originals[i % len(originals)], path)
        except OSError:
            shutil.copyfile(originals[i % len(originals)], path)
        paths.append(path)
    return paths


def stream(
    load: Callable[[int], np.ndarray],
    n: int,
    batch: int,
    threads: int,
    infer: Callable[[np.ndarray], np.ndarray] | None,
) -> float:
    """Seconds to push ``n`` frames through ``infer`` (or only load them when ``None``), frames
    loaded two batches ahead by ``threads`` threads, as ``predict_shard`` does."""
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        starts = list(range(0, n, batch))
        ahead: deque = deque()
        for s in starts[:2]:
            ahead.append([pool.submit(load, i) for i in range(s, min(s + batch, n))])
        for k, _ in enumerate(starts):
            frames = np.stack([f.result() for f in ahead.popleft()])
            if k + 2 < len(starts):
                s = starts[k + 2]
                ahead.append([pool.submit(load, i) for i in range(s, min(s + batch, n))])
            if infer is not None:
                infer(frames)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--n", type=int, default=256, help="sheets per variant")
    ap.add_argument("--encoder", default="resnet101")
    ap.add_argument("--frame", type=int, default=512)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 4, help="loader threads")
    ap.add_argument("--sheet", default="4000x6000", help="full-size sheet W×H (24 MP)")
    ap.add_argument("--distinct", type=int, default=4, help="distinct rendered sheets")
    ap.add_argument("--long-side", type=int, default=None, help="mask size for the shard row")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()

    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("no CUDA device here; use --device cpu for a smoke test")
    torch.set_num_threads(max(1, min(args.threads, os.cpu_count() or 1)))
    width, height = (int(v) for v in args.sheet.lower().split("x"))
    n, bs = args.n, args.batch_size
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        card = (
            f"{props.name}, {props.total_memory / 2**30:.0f} GiB, compute {props.major}."
            f"{props.minor}, CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}"
        )
    else:
        card = "CPU (smoke test: figures mean nothing)"
    results: list[Result] = []
    root = Path(tempfile.mkdtemp(prefix="herbseg_gpu_"))
    try:
        t0 = time.perf_counter()
        paths = make_sheets(root, n, width, height, args.distinct)
        rows = pd.DataFrame(
            {"sheet_id": [p.stem for p in paths], "path": [str(p) for p in paths],
             "width": width, "height": height, "status": "ok", "error": "", "mask_path": ""}
        )  # fmt: skip
        table = resize_shard(
            rows, root / "resize", frame=args.frame, threads=args.threads, log=lambda m: None
        )
        setup_s = time.perf_counter() - t0
        frames_png = table["frame_path"].tolist()
        in_memory = np.stack([load_rgb(p) for p in frames_png])
        geom = plan(width, height, args.frame, "squash")

        loaders: dict[str, Callable[[int], np.ndarray]] = {
            "memory": lambda i: in_memory[i],
            "png": lambda i: load_rgb(frames_png[i]),
            "jpeg_draft": lambda i: image_to_frame(
                load_rgb(paths[i], min_size=geom.decode_size()), geom
            ),
            "jpeg_full": lambda i: image_to_frame(load_rgb(paths[i]), geom),
        }
        model = build_model(args.encoder, None).to(device).eval()
        precisions = {"fp32": (False, False), "bf16+cl": (True, True)}

        def infer_fn(amp: bool, cl: bool) -> Callable[[np.ndarray], np.ndarray]:
            return lambda x: predict_proba(model, x, device, amp=amp, channels_last=cl)

        def measure(name: str, precision: str, run: Callable[[], float]) -> None:
            if device.type == "cuda":
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats(device)
            sync(device)
            seconds = run()
            sync(device)
            cuda = device.type == "cuda"
            peak = torch.cuda.max_memory_allocated(device) / 2**20 if cuda else None
            results.append(Result(name, precision, n / seconds, peak))
            print(f"{name:<34} {precision:<8} {n / seconds:9.1f} sheets/s", flush=True)

        for precision, (amp, cl) in precisions.items():
            warm = infer_fn(amp, cl)
            warm(in_memory[:bs])  # cuDNN picks its kernels per shape on the first call
            for loader in ("memory", "png", "jpeg_draft", "jpeg_full"):
                measure(
                    f"{loader} → predict_proba (batch {bs})",
                    precision,
                    lambda loader=loader, amp=amp, cl=cl: stream(
                        loaders[loader], n, bs, args.threads, infer_fn(amp, cl)
                    ),
                )

            def shard_run(amp: bool = amp, cl: bool = cl) -> float:
                out = root / "masks" / f"{amp}{cl}"
                t = time.perf_counter()
                predict_shard(model, table, out, device=device, batch_size=bs,
                              long_side=args.long_side, amp=amp, channels_last=cl,
                              threads=args.threads, log=lambda m: None)  # fmt: skip
                seconds = time.perf_counter() - t
                shutil.rmtree(out, ignore_errors=True)
                return seconds

            side = f"long side {args.long_side}" if args.long_side else f"{width}×{height}"
            measure(f"shard: predict_shard, masks {side}", precision, shard_run)
        for loader in ("png", "jpeg_draft", "jpeg_full"):
            measure(
                f"{loader}: decode only",
                "-",
                lambda loader=loader: stream(loaders[loader], n, bs, args.threads, None),
            )
        with contextlib.suppress(Exception):
            measure(
                "memory → predict_proba (batch 8, config)",
                "bf16+cl",
                lambda: stream(loaders["memory"], n, 8, args.threads, infer_fn(True, True)),
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)

    lines = [
        f"predict throughput, DeepLabV3+ {args.encoder}, {args.frame}×{args.frame}, {n} sheets of "
        f"{width}×{height}, {args.threads} loader threads, torch {torch.__version__}",
        f"device: {card}; host: {os.cpu_count()} CPUs; set-up {setup_s:.0f} s",
        f"{'path':<42} {'precision':<9} {'sheets/s':>9} {'GPU peak MB':>12}",
    ]
    for r in results:
        peak = f"{r.peak_gpu_mb:.0f}" if r.peak_gpu_mb is not None else "-"
        lines.append(f"{r.name:<42} {r.precision:<9} {r.sheets_per_s:>9.1f} {peak:>12}")
    write_report(lines, args.out)


if __name__ == "__main__":
    main()
