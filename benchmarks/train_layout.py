"""CPU training step time, NCHW against channels-last memory, side by side in one process.

Why: ``train.channels_last`` used to apply on CUDA only. On a 2-core CPU one DeepLabV3+ training
step (forward, backward, Adam) of the demo's EfficientNet-Lite0 is much faster in channels-last
memory, so the demo fits more of its epochs into its time budget. This measures each encoder both
ways, rounds alternating, random weights and random frames (the layout changes the arithmetic's
order, not its amount), and reports the best of each side.

    .venv/bin/python benchmarks/train_layout.py      # ~2 min on 2 cores

Writes benchmarks/results/train_layout.txt.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import segmentation_models_pytorch as smp
import torch
from _report import write_report

REPO = Path(__file__).resolve().parents[1]
# (encoder, frame, batch): the demo's, two small ones, and the paper's (batch 2 to fit the time)
CASES = (
    ("timm-tf_efficientnet_lite0", 256, 4),
    ("mobilenet_v2", 256, 4),
    ("resnet18", 256, 4),
    ("resnet101", 256, 2),
)


def step_seconds(encoder: str, size: int, batch: int, layout: torch.memory_format, n: int) -> float:
    """Mean seconds of ``n`` training steps after one warm-up step."""
    torch.manual_seed(0)
    model = smp.DeepLabV3Plus(encoder_name=encoder, encoder_weights=None, classes=1).train()
    model = model.to(memory_format=layout)
    x = torch.randn(batch, 3, size, size).contiguous(memory_format=layout)
    y = (torch.rand(batch, 1, size, size) > 0.5).float()
    loss_fn = torch.nn.BCEWithLogitsLoss()
    opt = torch.optim.Adam(model.parameters(), 1e-3)

    def step() -> None:
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()

    step()
    t = time.perf_counter()
    for _ in range(n):
        step()
    return (time.perf_counter() - t) / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks/results/train_layout.txt")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    lines = [
        f"CPU training step (s), best of {args.rounds} alternating rounds of {args.steps} steps, "
        f"{args.threads} threads, load before {os.getloadavg()[0]:.2f}",
        f"{'encoder':<28} {'frame':>5} {'batch':>5} {'NCHW':>7} {'chan-last':>9} {'ratio':>6}",
    ]
    for encoder, size, batch in CASES:
        best = {torch.contiguous_format: float("inf"), torch.channels_last: float("inf")}
        for _ in range(args.rounds):
            for layout in best:
                best[layout] = min(
                    best[layout], step_seconds(encoder, size, batch, layout, args.steps)
                )
        nchw, last = best[torch.contiguous_format], best[torch.channels_last]
        lines.append(
            f"{encoder:<28} {size:>5} {batch:>5} {nchw:>7.3f} {last:>9.3f} {nchw / last:>5.2f}x"
        )
        print(lines[-1], flush=True)
    write_report(lines, args.out)


if __name__ == "__main__":
    main()
