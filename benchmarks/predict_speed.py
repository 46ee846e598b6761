"""CPU predict: the naive per-sheet loop against the workflow's predict, side by side in one run.

Every variant does the whole per-sheet work on the same resized frames of the same sheets with the
same trained model: decode the frame, run the network, bring the probabilities back onto the sheet,
threshold, write the PNG mask.

- naive: what a first script does. torch eager fp32, batch 1, NCHW, ``torch.no_grad``, a Python
  loop; the mask as Pillow's bilinear resize of the probabilities, thresholded, saved as an 8-bit
  0/255 PNG (herbseg's mask writer until 2026-12-02).
- workflow, torch fp32: ``predict_shard`` (frames decoded ahead and masks written behind in
  threads, batches of ``predict.batch_size``) with ``predict.cpu_runtime: torch``.
- workflow, openvino fp32 / bf16: the same with the network compiled by OpenVINO
  (``herbseg.model.runtime``); bf16 only where the CPU has bf16 instructions.
- workflow default: what the default ``predict.cpu_runtime``/``cpu_precision`` chose here (one of
  the above, marked ``← default``). bf16 rows only where the CPU has bf16 instructions, int8 rows
  only with VNNI/AMX; int8 is calibrated on the shard's first 8 frames, as a job does.

Each thread count runs in its own process pinned to that many CPUs (``sched_setaffinity``), so a
1-thread row uses one core, decode and encode threads included. Rounds alternate the variants
(A B C, C B A, ...) so load from other processes hits all of them alike. The IoU columns compare
each variant's masks with the naive (fp32) masks, sheet by sheet: the worst sheet and the pooled.

Also written: a per-sheet profile of where the time goes, the cost of writing one 24 MP mask
before and after (same pixels, checked), and the agreement of the reduced-precision masks with
torch fp32 masks on real sheets (``--real``: folders of sheet images).

Run (about 25 min on 2 cores with a ResNet-101 model):
  .venv/bin/python benchmarks/predict_speed.py --model MODEL_DIR \
      --real demo/sheets ../shared/data/violaceae/images ../shared/data/leafmachine2_demo
Writes benchmarks/results/predict_speed[_<tag>].txt.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".tif", ".tiff"}


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


# ---------------------------------------------------------------- the naive way, written out


def naive_mask_png(prob, geom, w: int, h: int, threshold: float) -> bytes:
    """Probabilities → sheet-size mask → 8-bit PNG, the obvious way (Pillow bilinear, 0/255)."""
    from PIL import Image

    box = prob[geom.box_y : geom.box_y + geom.box_h, geom.box_x : geom.box_x + geom.box_w]
    grid = np.asarray(Image.fromarray(box, "F").resize((w, h), Image.Resampling.BILINEAR))
    buf = io.BytesIO()
    Image.fromarray(np.where(grid >= threshold, 255, 0).astype(np.uint8), "L").save(
        buf, format="PNG", compress_level=3
    )
    return buf.getvalue()


def naive(model, table: pd.DataFrame, out_dir: Path, threshold: float, tta: bool = False) -> None:
    import torch

    from herbseg.io.geometry import Geometry, output_size
    from herbseg.io.images import load_rgb
    from herbseg.model.network import get_normalisation, preprocess

    model.eval()
    norm = get_normalisation(model)  # what the model was trained with
    out_dir.mkdir(parents=True, exist_ok=True)
    for row in table.to_dict("records"):
        rgb = load_rgb(row["frame_path"])
        with torch.no_grad():
            x = preprocess(rgb[None], "cpu", norm)
            flips = [(), (3,), (2,), (2, 3)] if tta else [()]  # the frame and its three flips
            probs = [torch.flip(torch.sigmoid(model(torch.flip(x, d))), d) for d in flips]
            prob = (sum(probs) / len(probs))[0, 0].numpy()
        geom = Geometry.from_row(row)
        w, h = output_size(geom.sheet_w, geom.sheet_h, None)
        (out_dir / f"{row['sheet_id']}.png").write_bytes(
            naive_mask_png(prob, geom, w, h, threshold)
        )


# ---------------------------------------------------------------- inputs


def synthetic_shard(root: Path, n: int, width: int, height: int, frame: int) -> pd.DataFrame:
    from PIL import Image

    from herbseg.synth.sheets import generate_sheet

    paths = []
    for i in range(n):
        path = root / "sheets" / f"sheet{i:03d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(generate_sheet(1000 + i, width=width, height=height).rgb).save(
            path, quality=90
        )
        paths.append(path)
    return resized(paths, root / "resize", frame)


def resized(paths: list[Path], out: Path, frame: int) -> pd.DataFrame:
    """The resize stage's table for these sheet files (ids: file stems)."""
    from PIL import Image

    from herbseg.stages.resize import resize_shard

    rows = []
    for path in paths:
        with Image.open(path) as im:
            w, h = im.size
        rows.append({"sheet_id": path.stem, "path": str(path), "width": w, "height": h,
                     "status": "ok", "error": "", "mask_path": ""})  # fmt: skip
    table = resize_shard(pd.DataFrame(rows), out, frame=frame, threads=2, log=lambda m: None)
    table = table[table["status"] == "ok"].reset_index(drop=True)
    return table.assign(sheet_path=table["sheet_id"].map({p.stem: str(p) for p in paths}))


def model_frame(args: argparse.Namespace) -> int:
    """The frame size the model was trained at (its card), else ``--frame``."""
    from herbseg.model.card import read_card

    return int(read_card(args.model).get("frame_size") or args.frame)


def sheet_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_EXTS)


def mask_ious(a_dir: Path, b_dir: Path) -> tuple[float, float]:
    """Worst per-sheet IoU and pooled IoU of same-named masks (a sheet empty in both: 1)."""
    from herbseg.io.images import read_mask
    from herbseg.measurement.metrics import confusion, scores

    worst, pooled = 1.0, np.zeros(4, np.int64)
    for a_path in sorted(a_dir.glob("*.png")):
        counts = confusion(read_mask(b_dir / a_path.name), read_mask(a_path))
        pooled += counts
        worst = min(worst, scores(*counts)["iou"])
    return worst, scores(*(int(c) for c in pooled))["iou"]


# ---------------------------------------------------------------- one process per thread count


def child(args: argparse.Namespace) -> dict:
    """Speed rounds at ``args.child`` threads, pinned to that many CPUs."""
    cpus = sorted(os.sched_getaffinity(0))[: args.child]
    os.sched_setaffinity(0, cpus)
    import torch

    from herbseg.io.images import load_rgb
    from herbseg.model.network import load_model
    from herbseg.model.runtime import OpenVinoNet, has_bf16, has_int8, resolve
    from herbseg.stages.predict import (
        AGREEMENT_FRAMES,
        PredictSettings,
        for_this_cpu,
        predict_shard,
    )

    threads = args.child
    torch.set_num_threads(threads)
    frame = model_frame(args)
    root = Path(tempfile.mkdtemp(prefix="herbseg_predict_speed_"))
    width, height = (int(v) for v in args.sheet.lower().split("x"))
    try:
        t0 = time.perf_counter()
        table = synthetic_shard(root, args.n, width, height, frame)
        setup_s = time.perf_counter() - t0
        settings = PredictSettings(refine_edges=False, tta=args.tta)
        base = load_model(args.model)
        nets: dict[str, Callable[[], object]] = {
            "workflow, torch fp32": lambda: base,
            "workflow, openvino fp32": lambda: OpenVinoNet(base, "fp32", threads),
        }
        if has_bf16():
            nets["workflow, openvino bf16"] = lambda: OpenVinoNet(base, "bf16", threads)
        if has_int8():  # calibrated on the shard's first frames, as a job does
            sample = np.stack([load_rgb(p) for p in table["frame_path"][:AGREEMENT_FRAMES]])
            nets["workflow, openvino int8"] = lambda: OpenVinoNet(base, "int8", threads, sample)
        logs: list[str] = []
        auto = for_this_cpu(base, table, settings, threads, logs.append, args.model)
        nets = {name: make() for name, make in nets.items()}
        choice = resolve(settings.cpu_runtime, settings.cpu_precision)
        auto_name = f"workflow, {choice.runtime} {getattr(auto, 'precision', 'fp32')}"

        def ours(net) -> Callable[[Path], None]:
            return lambda out: predict_shard(
                net, table, out, device=torch.device("cpu"), batch_size=settings.batch_size,
                threshold=settings.threshold, amp=False, channels_last=settings.channels_last,
                threads=threads, tta=settings.tta, log=lambda m: None,
            )  # fmt: skip

        variants = {"naive": lambda out: naive(base, table, out, settings.threshold, args.tta)}
        variants.update({name: ours(net) for name, net in nets.items()})
        warm = table.head(settings.batch_size)  # kernels are built per shape on first use
        naive(base, warm.head(1), root / "warm", settings.threshold, args.tta)
        for net in nets.values():
            predict_shard(net, warm, root / "warm", device=torch.device("cpu"), amp=False,
                          threads=threads, log=lambda m: None)  # fmt: skip
        names = list(variants)
        rates: dict[str, list[float]] = {name: [] for name in names}
        for r in range(args.rounds):
            for name in names if r % 2 == 0 else names[::-1]:
                out = root / "out" / name
                shutil.rmtree(out, ignore_errors=True)
                t0 = time.perf_counter()
                variants[name](out)
                rates[name].append(args.n / (time.perf_counter() - t0))
                print(f"{threads} threads, round {r + 1}, {name}: {rates[name][-1]:.3f} sheets/s",
                      file=sys.stderr, flush=True)  # fmt: skip
        agree = {name: mask_ious(root / "out" / "naive", root / "out" / name) for name in names}
        return {"threads": threads, "cpus": cpus, "setup_s": setup_s, "rates": rates,
                "agree": agree, "auto": auto_name, "auto_log": logs, "frame": frame,
                "batch_size": settings.batch_size, "load": os.getloadavg()}  # fmt: skip
    finally:
        shutil.rmtree(root, ignore_errors=True)


def speed_rows(results: list[dict]) -> list[str]:
    lines = [f"{'threads':>7}  {'variant':<30} {'sheets/s per round':>22} {'mean':>7} "
             f"{'× naive':>8} {'worst IoU':>9} {'pooled':>7}"]  # fmt: skip
    for res in results:
        base = float(np.mean(res["rates"]["naive"]))
        for name, rates in res["rates"].items():
            label = name + (" ← default" if name == res["auto"] else "")
            worst, pooled = res["agree"][name]
            lines.append(
                f"{res['threads']:>7}  {label:<30} {' '.join(f'{v:.3f}' for v in rates):>22} "
                f"{np.mean(rates):>7.3f} {np.mean(rates) / base:>8.2f} {worst:>9.5f} {pooled:>7.5f}"
            )
    return lines


# ---------------------------------------------------------------- profile, mask write, real sheets


def timed(fn: Callable[[], object], repeat: int = 3) -> tuple[float, object]:
    result = fn()  # warm-up
    t0 = time.perf_counter()
    for _ in range(repeat):
        result = fn()
    return (time.perf_counter() - t0) / repeat, result


def profile(args: argparse.Namespace) -> list[str]:
    """Where one sheet's time goes, step by step, at 2 threads."""
    import torch

    from herbseg.io.geometry import Geometry, frame_to_sheet, output_size
    from herbseg.io.images import load_rgb, mask_png_bytes
    from herbseg.model.infer import predict_proba
    from herbseg.model.network import get_normalisation, load_model, preprocess
    from herbseg.model.runtime import OpenVinoNet, has_bf16, has_int8

    torch.set_num_threads(2)
    frame = model_frame(args)
    root = Path(tempfile.mkdtemp(prefix="herbseg_predict_profile_"))
    width, height = (int(v) for v in args.sheet.lower().split("x"))
    try:
        table = synthetic_shard(root, 8, width, height, frame)
        model = load_model(args.model)
        row = table.iloc[0].to_dict()
        frames = np.stack([load_rgb(p) for p in table["frame_path"]])
        geom = Geometry.from_row(row)
        w, h = output_size(geom.sheet_w, geom.sheet_h, None)
        steps: list[tuple[str, float]] = []
        dt, _ = timed(lambda: load_rgb(row["frame_path"]))
        steps.append(("decode the frame (PNG)", dt))
        norm = get_normalisation(model)
        x1 = preprocess(frames[:1], "cpu", norm)
        with torch.inference_mode():
            for fmt, batch in (
                ("NCHW", 1),
                ("channels_last", 1),
                ("NCHW", 8),
                ("channels_last", 8),
            ):
                memory = torch.channels_last if fmt == "channels_last" else torch.contiguous_format
                net = load_model(args.model).to(memory_format=memory).eval()
                x = preprocess(frames[:batch], "cpu", norm).contiguous(memory_format=memory)
                dt, _ = timed(lambda net=net, x=x: net(x), 2 if batch == 1 else 1)
                steps.append((f"network: torch fp32, {fmt}, batch {batch} (per frame)", dt / batch))
            with torch.autocast("cpu", dtype=torch.bfloat16):
                dt, _ = timed(lambda: model(x1), 2)
            steps.append(("network: torch bf16 autocast, NCHW, batch 1", dt))
        precisions = ["fp32"] + (["bf16"] if has_bf16() else []) + (["int8"] if has_int8() else [])
        for precision in precisions:
            net = OpenVinoNet(model, precision, 2, frames if precision == "int8" else None)
            dt, _ = timed(lambda net=net: net(x1), 3)
            steps.append((f"network: openvino {precision}, batch 1", dt))
        prob = predict_proba(model, frames[:1], "cpu", channels_last=False)[0]
        box = prob[geom.box_y : geom.box_y + geom.box_h, geom.box_x : geom.box_x + geom.box_w]
        from PIL import Image

        dt, grid = timed(
            lambda: np.asarray(Image.fromarray(box, "F").resize((w, h), Image.Resampling.BILINEAR))
        )
        steps.append((f"before: probabilities → {w}×{h} grid (Pillow bilinear)", dt))
        dt, mask = timed(lambda: grid >= 0.5)
        steps.append(("before: threshold", dt))
        dt, _ = timed(lambda: Image.fromarray(np.where(mask, 255, 0).astype(np.uint8), "L"))
        steps.append(("before: to 8-bit 0/255", dt))
        dt, _ = timed(lambda: naive_mask_png(prob, geom, w, h, 0.5))
        steps.append(("before: whole mask write (grid + threshold + 8-bit PNG)", dt))
        dt, fast = timed(lambda: frame_to_sheet(prob, geom, w, h, 0.5))
        steps.append(("after: frame_to_sheet (outline blocks only)", dt))
        dt, _ = timed(lambda: mask_png_bytes(fast))
        steps.append(("after: 1-bit PNG", dt))
        dt, _ = timed(lambda: mask_png_bytes(frame_to_sheet(prob, geom, w, h, 0.5)))
        steps.append(("after: whole mask write", dt))
        assert (fast == mask).all()
        lines = [f"per sheet ({w}×{h} sheet, {frame}×{frame} frame), 2 threads, "
                 f"load {os.getloadavg()[0]:.2f}:"]  # fmt: skip
        lines += [f"  {name:<62} {dt * 1000:8.1f} ms" for name, dt in steps]
        return lines
    finally:
        shutil.rmtree(root, ignore_errors=True)


def mask_write(args: argparse.Namespace) -> list[str]:
    """One 24 MP mask (4000×6000) from a trained model's frame probabilities, before and after."""
    import torch

    from herbseg.io.geometry import frame_to_sheet, plan
    from herbseg.io.images import load_rgb, mask_png_bytes, read_mask
    from herbseg.model.infer import predict_proba
    from herbseg.model.network import load_model

    torch.set_num_threads(2)
    frame = model_frame(args)
    root = Path(tempfile.mkdtemp(prefix="herbseg_mask_write_"))
    try:
        table = synthetic_shard(root, 4, 2000, 3000, frame)
        model = load_model(args.model)
        frames = np.stack([load_rgb(p) for p in table["frame_path"]])
        probs = predict_proba(model, frames, "cpu", channels_last=False)
        geom = plan(4000, 6000, frame)
        lines = [f"{'sheet':<10} {'before ms':>10} {'after ms':>9} {'×':>6} {'before bytes':>13} "
                 f"{'after bytes':>12} {'same pixels':>12}"]  # fmt: skip
        ratios = []
        for sid, prob in zip(table["sheet_id"], probs):
            t_before, before = timed(lambda p=prob: naive_mask_png(p, geom, 4000, 6000, 0.5))
            t_after, after = timed(
                lambda p=prob: mask_png_bytes(frame_to_sheet(p, geom, 4000, 6000, 0.5))
            )
            (root / "a.png").write_bytes(before)
            (root / "b.png").write_bytes(after)
            same = bool((read_mask(root / "a.png") == read_mask(root / "b.png")).all())
            ratios.append(t_before / t_after)
            lines.append(f"{sid:<10} {t_before * 1000:>10.1f} {t_after * 1000:>9.1f} "
                         f"{t_before / t_after:>6.2f} {len(before):>13,} {len(after):>12,} "
                         f"{str(same):>12}")  # fmt: skip
        lines.append(f"median ratio {np.median(ratios):.2f}×, load {os.getloadavg()[0]:.2f}")
        return lines
    finally:
        shutil.rmtree(root, ignore_errors=True)


def measure_scaling(args: argparse.Namespace) -> list[str]:
    """measure_shard on the same predicted masks with 1 and 2 threads, alternating rounds."""
    import torch

    from herbseg.config.schema import load_config
    from herbseg.model.network import load_model
    from herbseg.model.runtime import OpenVinoNet
    from herbseg.stages.ingest import build_manifest
    from herbseg.stages.measure import measure_settings, measure_shard
    from herbseg.stages.predict import predict_shard

    torch.set_num_threads(2)
    frame = model_frame(args)
    config = load_config(sheets="sheets")  # defaults; no folder is read
    root = Path(tempfile.mkdtemp(prefix="herbseg_measure_"))
    width, height = (int(v) for v in args.sheet.lower().split("x"))
    try:
        table = synthetic_shard(root, args.n, width, height, frame)
        net = OpenVinoNet(load_model(args.model), "fp32", 2)
        preds = predict_shard(net, table, root / "masks", device=torch.device("cpu"), threads=2,
                              log=lambda m: None)  # fmt: skip
        sheets = pd.DataFrame({"sheet_id": table["sheet_id"], "path": table["sheet_path"]})
        rows = build_manifest(sheets, {}, max_megapixels=config["ingest"]["max_megapixels"],
                              checksum=False).astype(str)  # fmt: skip
        rows["shard"] = "bench"
        settings = measure_settings(config["measure"], config["postprocess"])
        preds = preds.astype({"sheet_id": str}).fillna("")
        times: dict[int, list[float]] = {1: [], 2: []}
        results = {}
        for r in range(args.rounds):
            for t in (1, 2) if r % 2 == 0 else (2, 1):
                t0 = time.perf_counter()
                results[t] = measure_shard(rows, preds, settings=settings, log=lambda m: None,
                                           threads=t)  # fmt: skip
                times[t].append(args.n / (time.perf_counter() - t0))
        same = results[1][0].equals(results[2][0]) and results[1][1].equals(results[2][1])
        one, two = np.mean(times[1]), np.mean(times[2])
        return [f"measure, {args.n} sheets of {args.sheet}, rounds alternating, load "
                f"{os.getloadavg()[0]:.2f}: 1 thread {one:.2f} sheets/s, 2 threads {two:.2f} "
                f"sheets/s ({two / one:.2f}×), same tables: {same}"]  # fmt: skip
    finally:
        shutil.rmtree(root, ignore_errors=True)


def real_agreement(args: argparse.Namespace) -> list[str]:
    """Masks of openvino fp32/bf16 against torch fp32 on real sheets, per sheet, at sheet size."""
    import torch

    from herbseg.io.geometry import Geometry, frame_to_sheet, output_size
    from herbseg.io.images import load_rgb
    from herbseg.model.infer import predict_proba
    from herbseg.model.network import load_model
    from herbseg.model.runtime import OpenVinoNet, has_bf16, has_int8, mask_iou
    from herbseg.stages.predict import AGREEMENT_FRAMES

    torch.set_num_threads(2)
    frame = model_frame(args)
    model = load_model(args.model)
    nets = {"openvino fp32": OpenVinoNet(model, "fp32", 2)}
    if has_bf16():
        nets["openvino bf16"] = OpenVinoNet(model, "bf16", 2)
    lines = [f"{'collection':<44} {'sheets':>6} {'variant':<14} {'worst IoU':>9} "
             f"{'median':>8} {'≥ 0.998':>8} {'leaf frac':>9}"]  # fmt: skip
    for folder in args.real:
        files = sheet_files(folder)
        if not files:
            lines.append(f"{str(folder):<44} no sheets found")
            continue
        root = Path(tempfile.mkdtemp(prefix="herbseg_agree_"))
        try:
            table = resized(files, root, frame)
            if has_int8():  # calibrated on the folder's first frames, as a job on its shard
                first = [load_rgb(p) for p in table["frame_path"][:AGREEMENT_FRAMES]]
                nets["openvino int8"] = OpenVinoNet(model, "int8", 2, np.stack(first))
            ious: dict[str, list[float]] = {name: [] for name in nets}
            fg = []
            for row in table.to_dict("records"):
                x = load_rgb(row["frame_path"])[None]
                geom = Geometry.from_row(row)
                w, h = output_size(geom.sheet_w, geom.sheet_h, None)
                ref = frame_to_sheet(predict_proba(model, x, "cpu", channels_last=False)[0],
                                     geom, w, h)  # fmt: skip
                fg.append(ref.mean())
                for name, net in nets.items():
                    got = frame_to_sheet(predict_proba(net, x, "cpu")[0], geom, w, h)
                    ious[name].append(mask_iou(ref, got))
            for name, values in ious.items():
                v = np.array(values)
                lines.append(f"{str(folder)[-44:]:<44} {len(v):>6} {name:<14} {v.min():>9.5f} "
                             f"{np.median(v):>8.5f} {(v >= 0.998).sum():>4}/{len(v):<3} "
                             f"{np.mean(fg):>9.4f}")  # fmt: skip
        finally:
            shutil.rmtree(root, ignore_errors=True)
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", type=Path, required=True, help="a trained herbseg model folder")
    ap.add_argument("--n", type=int, default=16, help="sheets per round")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", default="1,2", help="thread counts, one pinned process each")
    ap.add_argument("--frame", type=int, default=512, help="if the model card has none")
    ap.add_argument("--sheet", default="2000x3000", help="synthetic sheet size W×H")
    ap.add_argument("--real", type=Path, nargs="*", default=[], help="folders of real sheets")
    ap.add_argument("--tta", action="store_true", help="both sides average 4 flips (the demo's)")
    ap.add_argument("--parts", default="speed,profile,measure,write,real")
    ap.add_argument("--tag", default="", help="suffix of the results file")
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    sys.path.insert(0, str(REPO / "src"))
    if args.child:
        print(json.dumps(child(args)))
        return
    import torch

    from herbseg.model.card import read_card
    from herbseg.model.runtime import cpu_flags, has_bf16

    parts = set(args.parts.split(","))
    card = read_card(args.model)
    flags = cpu_flags()
    lines = [
        f"CPU predict, DeepLabV3+ {card.get('encoder')} (trained: {args.model}), "
        f"{card.get('frame_size') or args.frame} px frames, synthetic sheets {args.sheet}",
        f"{cpu_name()}, {os.cpu_count()} CPUs, bf16 instructions: {has_bf16(flags)}, "
        f"VNNI: {bool({'avx512_vnni', 'avx_vnni'} & flags)}, AMX: {'amx_tile' in flags}, "
        f"torch {torch.__version__}, load at start {os.getloadavg()[0]:.2f}",
        "",
    ]
    if "speed" in parts:
        results = []
        for t in (int(v) for v in args.threads.split(",")):
            cmd = [sys.executable, __file__, "--child", str(t), "--model", str(args.model),
                   "--n", str(args.n), "--rounds", str(args.rounds), "--frame", str(args.frame),
                   "--sheet", args.sheet] + (["--tta"] if args.tta else [])  # fmt: skip
            proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
            results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        lines.append(f"speed: {args.n} sheets × {args.rounds} rounds per variant, masks at sheet "
                     f"size, no edge refinement on either side, TTA {'on' if args.tta else 'off'} "
                     "on both")  # fmt: skip
        lines += speed_rows(results)
        for res in results:
            chosen = " | ".join(res["auto_log"])
            lines.append(f"  {res['threads']} threads on CPUs {res['cpus']}: load at end "
                         f"{res['load'][0]:.2f}; default: {chosen}")  # fmt: skip
        lines.append("")
    if "profile" in parts:
        lines += profile(args) + [""]
    if "measure" in parts:
        lines += measure_scaling(args) + [""]
    if "write" in parts:
        lines += ["one 24 MP mask (4000×6000) from a frame of trained-model probabilities:"]
        lines += mask_write(args) + [""]
    if "real" in parts and args.real:
        lines += ["real sheets: masks at sheet size against torch fp32 masks, per sheet:"]
        lines += real_agreement(args)
    from _report import write_report

    write_report(lines, RESULTS / f"predict_speed{'_' + args.tag if args.tag else ''}.txt")


if __name__ == "__main__":
    main()
