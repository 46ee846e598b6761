"""Large scans at their own size: OpenCV's distance transform against SciPy's, side by side.

Why: with masks at a scan's own size (the recipe since session 29), the predict path's distance
transforms (the refinement's outline band and paper ring, the thin parts' width,
:mod:`herbseg.measurement.distance`) ran on 24-70 MP grids and took about two fifths of
``herbseg predict``'s time on 2 cores (py-spy). This draws synthetic whole-plant sheets at a
scan's size (``large_scans.py``'s collection), predicts them with the recipe's config in this
process twice per arm, alternating: ``opencv`` (the code as it is) and ``scipy`` (the same
functions with SciPy's ``distance_transform_edt`` put back, the code until session 29), and
reports each arm's best wall time, the ratio, and whether every mask is byte-identical between
the arms.

Run: PYTHONPATH=src .venv/bin/python benchmarks/distance_speed.py --model MODEL_DIR
Writes ``<out>/results.md``.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi

sys.path.insert(0, str(Path(__file__).resolve().parent))

from large_scans import CONFIGS, REPO  # noqa: E402

import herbseg.measurement.distance as distance  # noqa: E402
import herbseg.measurement.refine as refine  # noqa: E402
from herbseg.config.schema import load_config  # noqa: E402
from herbseg.quick import predict_sheets  # noqa: E402
from herbseg.synth.plant import plant_collection_once  # noqa: E402

OPENCV = distance.distance_inside


def scipy_inside(mask: np.ndarray) -> np.ndarray:
    """SciPy's transform, as the predict path called it until session 29."""
    return ndi.distance_transform_edt(mask).astype(np.float32)


def use(arm: str) -> None:
    """Point every caller of ``distance_inside`` at one arm's transform."""
    fn = OPENCV if arm == "opencv" else scipy_inside
    distance.distance_inside = fn  # deeper_than, within and wide_parts look it up here
    refine.distance_inside = fn  # refine_edges imported the name itself


def digests(masks: Path) -> dict[str, str]:
    return {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in sorted(masks.glob("*.png"))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="the real-sheet model folder")
    ap.add_argument("--sheets", type=int, default=6)
    ap.add_argument("--size", type=int, nargs=2, default=[5000, 7000], metavar=("W", "H"))
    ap.add_argument("--dpi", type=float, default=430.0)
    ap.add_argument("--seed", type=int, default=7071)
    ap.add_argument("--rounds", type=int, default=2, help="runs per arm, alternating")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "distance_speed")
    args = ap.parse_args()
    collection = args.out / "collection"
    w, h = args.size
    plant_collection_once(collection, args.sheets, args.seed, w, h, args.dpi,
                          workers=args.threads, mask_class="plant")  # fmt: skip
    sheets = sorted((collection / "sheets").glob("*.jpg"))
    config = load_config([str(REPO / c) for c in CONFIGS], sheets=str(collection / "sheets"))
    config["predict"]["long_side"] = None  # each sheet's own size
    best: dict[str, float] = {}
    masks: dict[str, dict[str, str]] = {}
    for r in range(args.rounds):
        for arm in ("scipy", "opencv"):
            use(arm)
            out = args.out / f"{arm}_{r}"
            t0 = time.perf_counter()
            predict_sheets(sheets, args.model, out, config, threads=args.threads,
                           overlays=False, log=lambda m: None)  # fmt: skip
            wall = time.perf_counter() - t0
            print(f"round {r} {arm}: {wall:.1f} s", flush=True)
            best[arm] = min(best.get(arm, wall), wall)
            masks.setdefault(arm, digests(out / "masks"))
    use("opencv")
    same = masks["scipy"] == masks["opencv"]
    n = len(sheets)
    md = [
        f"# Distance transforms on large scans ({n} synthetic whole-plant sheets, {w}×{h} at "
        f"{args.dpi:g} dpi, seed {args.seed}; model {args.model}; {args.threads} threads; "
        f"best of {args.rounds} alternating runs)",
        "",
        "| arm | wall s (all sheets, in-process) | s a sheet |",
        "|---|---|---|",
        f"| scipy (until session 29) | {best['scipy']:.1f} | {best['scipy'] / n:.2f} |",
        f"| opencv (now) | {best['opencv']:.1f} | {best['opencv'] / n:.2f} |",
        "",
        f"Speed-up: **{best['scipy'] / best['opencv']:.2f}×**. "
        f"Masks byte-identical between the arms: **{'yes' if same else 'NO'}** ({n} sheets).",
    ]
    (args.out / "results.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    if not same:
        sys.exit("the two arms' masks differ")


if __name__ == "__main__":
    main()
