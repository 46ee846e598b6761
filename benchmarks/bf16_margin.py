"""How far bf16 logits stray from fp32's near the threshold, and how many pixels that puts in doubt.

For each sheet (squashed to the model's frame, as the workflow does): OpenVINO fp32 and bf16
logits of the same frame; the largest |bf16 - fp32| among pixels within 4 logits of the threshold;
the pixels within 0.1/0.2/0.4 logits of it as a share of the frame's leaf pixels (a frame may
change 0.2 % of them and still reach IoU 0.998 against fp32); and the bf16 mask's IoU against
torch fp32's. The question it answers: could a per-frame guard (recompute in fp32 only the frames
whose mask might move) give bf16's speed with fp32's masks? (BENCHMARKS.md, "CPU predict".)

Run: .venv/bin/python benchmarks/bf16_margin.py --model MODEL_DIR --sheets demo/sheets [--n 10]
Writes ``benchmarks/results/bf16_margin.txt``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import write_report  # noqa: E402

from herbseg.model.card import read_card  # noqa: E402
from herbseg.model.infer import predict_proba  # noqa: E402
from herbseg.model.network import load_model  # noqa: E402
from herbseg.model.runtime import OpenVinoNet, has_bf16, mask_iou  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


class Recording(OpenVinoNet):
    """An OpenVINO network that keeps the logits of its last call."""

    def __init__(self, net: OpenVinoNet) -> None:  # no conversion: wraps a compiled one
        self.net, self.module, self.last = net, net.module, None

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        self.last = self.net(x)
        return self.last


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, required=True)
    ap.add_argument("--sheets", type=Path, required=True)
    ap.add_argument("--n", type=int, default=10)
    ap.add_argument("--threshold", type=float, default=0.5)
    ap.add_argument("--frame", type=int, default=512, help="when the model's card has none")
    args = ap.parse_args()
    if not has_bf16():
        raise SystemExit("this CPU has no bf16 instructions")
    torch.set_num_threads(2)
    model = load_model(args.model)
    frame = int(read_card(args.model).get("frame_size") or args.frame)
    fp32, bf16 = Recording(OpenVinoNet(model, "fp32", 2)), Recording(OpenVinoNet(model, "bf16", 2))
    t = float(np.log(args.threshold / (1 - args.threshold)))
    lines = ["| sheet | max abs(bf16 - fp32) near t | doubt 0.1 | doubt 0.2 | doubt 0.4 | "
             "bf16 IoU vs torch fp32 |", "|---|---|---|---|---|---|"]  # fmt: skip
    files = sorted(p for p in args.sheets.rglob("*") if p.suffix.lower() in (".jpg", ".png"))
    for path in files[: args.n]:
        x = np.asarray(Image.open(path).convert("RGB").resize((frame, frame), Image.BILINEAR))
        x = x[None]
        ref = predict_proba(model, x, "cpu", channels_last=False)[0] >= args.threshold
        predict_proba(fp32, x, "cpu")
        got = predict_proba(bf16, x, "cpu")[0] >= args.threshold
        lf, lb = fp32.last[0, 0].numpy(), bf16.last[0, 0].numpy()
        near = np.abs(lf - t) < 4
        worst = float(np.abs(lf - lb)[near].max()) if near.any() else 0.0
        leaf = max(1, int((lb >= t).sum()))
        doubt = [100 * int((np.abs(lb - t) < m).sum()) / leaf for m in (0.1, 0.2, 0.4)]
        lines.append(f"| {path.stem} | {worst:.3f} | {doubt[0]:.2f} % | {doubt[1]:.2f} % | "
                     f"{doubt[2]:.2f} % | {mask_iou(got, ref):.5f} |")  # fmt: skip
    lines.append(f"\nmodel {args.model}, frame {frame}, threshold {args.threshold}")
    write_report(lines, REPO / "benchmarks" / "results" / "bf16_margin.txt")


if __name__ == "__main__":
    main()
