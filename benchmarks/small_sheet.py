"""The small sheet made once for glued pictures and scale cards, against once for each.

Predict looks for glued pictures and for scale cards on the sheet brought to 512 px
(`herbseg.measurement.small_sheet`). Until session 33 each finder shrank the sheet itself; now
`herbseg.model.masks.write_prediction` makes the small sheet once and hands it to both. This
times, side by side on the same sheets in one run, the two ways: "each" shrinks the sheet twice
(once per finder, as before) and "once" shrinks it once; both then run the same two finders on
the same small sheet, so the finds are the same. Best of ``--repeats`` per sheet.

Sheets: the 12 LeafMachine2 sheets and 12 Violaceae photographs from ../shared (when there), and
synthetic large scans (24 and 35 MP, as ``benchmarks/large_scans.py`` draws them).

Run: PYTHONPATH=src .venv/bin/python benchmarks/small_sheet.py [--repeats 5]
[--out results/small_sheet] (~1 min on 2 cores)
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from _report import write_report
from PIL import Image

from herbseg.measurement.glued_pictures import find_pictures
from herbseg.measurement.scale_cards import find_cards
from herbseg.measurement.small_sheet import small_sheet
from herbseg.synth.plant import generate_plant_sheet

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
LARGE = ((7070, 4000, 6000, 360), (7071, 5000, 7000, 430))  # seed, width, height, dpi


def each(rgb: np.ndarray) -> None:
    """Before: every finder shrinks the sheet for itself."""
    find_pictures(small_sheet(rgb))
    find_cards(small_sheet(rgb))


def once(rgb: np.ndarray) -> None:
    """Now: one small sheet for both finders."""
    small = small_sheet(rgb)
    find_pictures(small)
    find_cards(small)


def best(fn: Callable[[np.ndarray], None], rgb: np.ndarray, repeats: int) -> float:
    """The fastest of ``repeats`` runs, in seconds (the least disturbed by other load)."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(rgb)
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", type=Path, default=Path("results/small_sheet"))
    args = ap.parse_args()
    sets: dict[str, list[Callable[[], np.ndarray]]] = {}
    if SHARED.is_dir():
        lm2 = sorted((SHARED / "leafmachine2_demo").rglob("*.jpg"))
        viol = sorted((SHARED / "violaceae" / "images").rglob("*.jpg"))[::29]
        for name, paths in (("LeafMachine2 (2.9 MP)", lm2), ("Violaceae (0.7 MP)", viol)):
            sets[name] = [lambda p=p: np.asarray(Image.open(p).convert("RGB")) for p in paths]
    for seed, w, h, dpi in LARGE:
        sets[f"synthetic scan {w}x{h} ({w * h / 1e6:.0f} MP)"] = [
            lambda seed=seed, w=w, h=h, dpi=dpi, i=i: (
                generate_plant_sheet(seed, w, h, dpi=dpi, index=i).rgb
            )
            for i in range(2)
        ]
    lines = [
        "| sheets | n | shrunk for each finder (ms / sheet) | shrunk once (ms / sheet) | ratio |",
        "|---|---|---|---|---|",
    ]
    for name, loaders in sets.items():
        t_each = t_once = 0.0
        for load in loaders:
            rgb = load()
            t_each += best(each, rgb, args.repeats)
            t_once += best(once, rgb, args.repeats)
        n = len(loaders)
        lines.append(
            f"| {name} | {n} | {1000 * t_each / n:.0f} | {1000 * t_once / n:.0f} "
            f"| {t_each / t_once:.2f} |"
        )
    write_report(lines, args.out / "results.md")


if __name__ == "__main__":
    main()
