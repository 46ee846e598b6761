"""The OpenVINO conversion a predict job needs: traced from the torch model (every job until
2026-12-02) against read back from herbseg's cache (every job after the first of a model).

For each encoder, a DeepLabV3+ with random weights (the cost does not depend on the values) is
converted with an empty cache, then opened again from the cache that conversion filled; the
rounds alternate the two and the medians are compared. Both networks are then run on one frame
and their logits compared, so the cache is checked to give the same network.

Run (about 2 min on 2 cores):
  .venv/bin/python benchmarks/openvino_cache.py
Writes benchmarks/results/openvino_cache.txt.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch

from herbseg.model.network import build_model
from herbseg.model.runtime import OpenVinoNet

RESULTS = Path(__file__).resolve().parent / "results"


def timed(model: torch.nn.Module, threads: int) -> tuple[float, OpenVinoNet]:
    """Seconds to get the predict job's network for ``model``, and the network."""
    t0 = time.perf_counter()
    net = OpenVinoNet(model, "fp32", threads, cache_key="k")
    return time.perf_counter() - t0, net


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoders", nargs="+", default=["resnet18", "resnet101",
                        "timm-tf_efficientnet_lite0"])  # fmt: skip
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    lines = [
        f"# OpenVINO conversion per predict job: traced vs read from the cache "
        f"({args.rounds} rounds, {args.threads} threads, {os.cpu_count()} CPUs)",
        f"{'encoder':28s} {'traced s':>9s} {'cached s':>9s} {'ratio':>6s} {'max |dlogit|':>13s}",
    ]
    for encoder in args.encoders:
        torch.manual_seed(0)
        model = build_model(encoder, None).eval()
        x = torch.rand(1, 3, 256, 256)
        traced, cached = [], []
        for _ in range(args.rounds):
            with tempfile.TemporaryDirectory() as cache:
                os.environ["HERBSEG_CACHE_DIR"] = cache
                t_trace, first = timed(model, args.threads)  # empty cache: traced
                t_read, again = timed(model, args.threads)  # read back
                traced.append(t_trace)
                cached.append(t_read)
                diff = (first(x) - again(x)).abs().max().item()
        t, c = statistics.median(traced), statistics.median(cached)
        lines.append(f"{encoder:28s} {t:9.2f} {c:9.2f} {t / c:5.1f}x {diff:13.2e}")
        print(lines[-1], flush=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "openvino_cache.txt").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
