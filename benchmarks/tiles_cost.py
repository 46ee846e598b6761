"""CPU cost per sheet of tiled prediction and of flip averaging vs. one frame, side by side.

Each sheet is predicted by the same network (DeepLabV3+ with a Lite0 encoder, the recipe's until
session 36; the weights do not change the cost) four ways, one after the other, and the wall
time of each is recorded: one ``--frame`` frame per sheet (what ``predict`` does), the same
frame and its three flips averaged (``predict.tta``, the real-sheet recipe's setting), and tiles
of ``--frame`` px at long side 1024 and 2048 (``herbseg.model.tiles``, quarter overlap).
Reported as seconds per sheet and as the ratio to the single frame, with the machine's load
average (the machine is shared).

Then the whole predict path (``herbseg.stages.predict.predict_shard``: reading, the network, edge
refinement, writing the mask) over the same sheets, twice, one run after the other: the
real-sheet recipe's frame with flips averaged, and the same with ``predict.tiles`` (thin parts
from tiles at long side 2048 added; no flips for the tiles).

Run: .venv/bin/python benchmarks/tiles_cost.py [--sheets 3] [--threads 2] [--model M]
Writes results/benchmarks/tiles_cost.csv, tiles_cost_whole.csv and tiles_cost.md.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image

from herbseg.io.images import load_rgb
from herbseg.model.infer import predict_proba
from herbseg.model.network import build_model, load_model
from herbseg.model.tiles import TileSettings, starts, tiled_proba
from herbseg.stages.predict import PredictSettings, predict_shard
from herbseg.stages.resize import resize_shard

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "leafmachine2_demo"


def one_frame(model, rgb: np.ndarray, size: int, device, tta: bool) -> float:
    """Seconds to bring the sheet into one frame and predict it (``tta``: and its three flips)."""
    t0 = time.perf_counter()
    frame = np.asarray(Image.fromarray(rgb).resize((size, size)))
    predict_proba(model, frame[None], device, tta=tta)
    return time.perf_counter() - t0


def whole_path(model, paths: list[Path], frame: int, threads: int) -> list[dict]:
    """Seconds per sheet of ``predict_shard`` (flips averaged, refinement for a whole-plant
    model) without and with thin parts from tiles at long side 2048."""
    device = torch.device("cpu")
    refine = PredictSettings().refine_for("plant")
    sizes = [Image.open(p).size for p in paths]
    rows = pd.DataFrame([{"sheet_id": p.stem, "path": str(p), "width": w, "height": h,
                          "status": "ok"} for p, (w, h) in zip(paths, sizes)])  # fmt: skip
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        resized = resize_shard(rows, Path(tmp) / "frames", frame=frame, threads=threads)
        for name, tiles in (("frame + flips", None),
                            ("frame + flips, tiles 2048 (thin)", TileSettings(True))):  # fmt: skip
            load0 = os.getloadavg()[0]
            t0 = time.perf_counter()
            predict_shard(model, resized, Path(tmp) / name, device=device, sheets=rows,
                          refine=refine, tta=True, tiles=tiles, threads=threads,
                          log=lambda m: None)  # fmt: skip
            dt = (time.perf_counter() - t0) / len(paths)
            out.append({"path": name, "s_per_sheet": round(dt, 2),
                        "load_avg_1min": round((load0 + os.getloadavg()[0]) / 2, 1)})  # fmt: skip
    base = out[0]["s_per_sheet"]
    for row in out:
        row["ratio"] = round(row["s_per_sheet"] / base, 1)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sheets", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--frame", type=int, default=512)
    ap.add_argument("--out", type=Path, default=REPO / "results" / "benchmarks" / "tiles_cost")
    ap.add_argument("--model", type=Path,
                    help="a trained model (refinement works on its masks)")  # fmt: skip
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.model:
        model = load_model(args.model, "cpu").eval()
    else:
        model = build_model("timm-tf_efficientnet_lite0", None).eval()
    device = torch.device("cpu")
    paths = sorted(p for p in DATA.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    predict_proba(model, np.zeros((1, args.frame, args.frame, 3), np.uint8), device)  # warm-up
    rows = []
    for path in paths[: args.sheets]:
        rgb = load_rgb(path)
        h, w = rgb.shape[:2]
        load0 = os.getloadavg()[0]
        single = one_frame(model, rgb, args.frame, device, tta=False)
        flips = one_frame(model, rgb, args.frame, device, tta=True)
        row = {"sheet": path.name, "sheet_px": f"{w}x{h}", "single_frame_s": round(single, 2),
               "tta_s": round(flips, 2), "tta_ratio": round(flips / single, 1)}  # fmt: skip
        for long_side in (1024, 2048):
            s = TileSettings(True, "replace", long_side, args.frame)
            f = long_side / max(w, h)
            ww, hh = round(w * f), round(h * f)
            n = len(starts(hh, s.tile, s.overlap)) * len(starts(ww, s.tile, s.overlap))
            t0 = time.perf_counter()
            work = np.asarray(Image.fromarray(rgb).resize((ww, hh)))
            tiled_proba(model, work, device, s, batch_size=8)
            dt = time.perf_counter() - t0
            row |= {f"tiles_{long_side}_n": n, f"tiles_{long_side}_s": round(dt, 2),
                    f"tiles_{long_side}_ratio": round(dt / single, 1)}  # fmt: skip
        row["load_avg_1min"] = round((load0 + os.getloadavg()[0]) / 2, 1)
        rows.append(row)
        print(row, flush=True)
    table = pd.DataFrame(rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out.with_suffix(".csv"), index=False)
    md = table.to_markdown(index=False)
    md += f"\n\nCPU, torch threads {args.threads}, frame {args.frame}, Lite0 DeepLabV3+.\n"
    whole = pd.DataFrame(whole_path(model, paths[: args.sheets], args.frame, args.threads))
    whole.to_csv(args.out.parent / (args.out.name + "_whole.csv"), index=False)
    md += "\nThe whole predict path, per sheet:\n\n" + whole.to_markdown(index=False) + "\n"
    args.out.with_suffix(".md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
