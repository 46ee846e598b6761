"""A missing ImageNet weight on a 10,000-sheet folder must fail in seconds, before ingest.

Builds a folder of 10,000 small JPEG sheets (and an annotations folder), then runs the real
Snakefile with the default encoder (ResNet-101), ``model.offline: true`` and an empty Hugging Face
cache. Reports the wall and CPU seconds until the failure, that the message names the key, and
that nothing was written under the results folder. CPU seconds are what a quiet machine's wall
time approaches (this start-up is single-threaded); the issue's floor is < 10 s.

Run: PYTHONPATH=src .venv/bin/python benchmarks/missing_weights.py [--sheets 10000]
Writes ``benchmarks/results/missing_weights.txt``.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import write_report  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sheets", type=int, default=10_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="herbseg-missing-") as tmp:
        root = Path(tmp)
        sheets, masks = root / "sheets", root / "masks"
        sheets.mkdir()
        masks.mkdir()
        buf = root / "one.jpg"
        Image.fromarray(np.full((64, 48, 3), 200, np.uint8)).save(buf)
        data = buf.read_bytes()
        for i in range(args.sheets):
            (sheets / f"sheet_{i:06d}.jpg").write_bytes(data)
        mask = root / "mask.png"
        Image.fromarray(np.zeros((64, 48), np.uint8)).save(mask)
        for i in range(min(100, args.sheets)):  # an annotated part, as a user's folder has
            (masks / f"sheet_{i:06d}.png").write_bytes(mask.read_bytes())
        cfg = {
            "sheets": str(sheets),
            "annotations": str(masks),
            "results": str(root / "results"),
            "model": {"encoder": "resnet101", "encoder_weights": "imagenet", "offline": True},
        }
        (root / "config.yaml").write_text(yaml.safe_dump(cfg))
        env = {
            **os.environ,
            "PYTHONPATH": str(REPO / "src"),
            "HF_HOME": str(root / "hf"),
            "HF_HUB_OFFLINE": "1",
        }
        cmd = [
            sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
            "--directory", str(root), "--configfile", str(root / "config.yaml"), "--cores", "2",
        ]  # fmt: skip
        load = os.getloadavg()
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        text = proc.stdout + proc.stderr
        message = next((ln for ln in text.splitlines() if "config key" in ln), "(no message)")
        written = (root / "results").exists()
    if "model.encoder_weights" not in message:  # another check stopped the run: not this figure
        raise SystemExit(f"the run did not stop at the weights check:\n{text[-3000:]}")
    lines = [
        f"missing ImageNet weight (resnet101, offline, empty cache), {args.sheets} sheets",
        f"load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, {os.cpu_count()} CPUs",
        f"exit status {proc.returncode}; wall {wall:.1f} s; CPU (user+sys) {cpu:.1f} s",
        f"results folder written: {written}",
        f"message: {message[:300]}",
    ]
    write_report(lines, REPO / "benchmarks" / "results" / "missing_weights.txt")


if __name__ == "__main__":
    main()
