"""Reduced-scale JPEG decoding (Pillow draft) against full decode + resize, on a 24 MP sheet.

Run: .venv/bin/python benchmarks/decode.py [--repeats 5]
Prints both timings, the speed-up and the mean absolute difference of the 512×512 frames.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from herbseg.io.geometry import image_to_frame, plan
from herbseg.io.images import load_rgb
from herbseg.synth.sheets import generate_sheet


def _time(fn, repeats: int) -> tuple[float, np.ndarray]:
    best, out = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--frame", type=int, default=512)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sheet24mp.jpg"
        sheet = generate_sheet(7, width=4000, height=6000, dpi=600)
        Image.fromarray(sheet.rgb).save(path, quality=90, dpi=(600, 600))
        geom = plan(4000, 6000, args.frame, "squash")

        def naive() -> np.ndarray:
            with Image.open(path) as im:
                full = np.asarray(im.convert("RGB"))
            return image_to_frame(full, geom)

        def ours() -> np.ndarray:
            return image_to_frame(load_rgb(path, min_size=geom.decode_size()), geom)

        t_naive, a = _time(naive, args.repeats)
        t_ours, b = _time(ours, args.repeats)
    mad = float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())
    print(f"24 MP JPEG (4000×6000) → {args.frame}×{args.frame}, best of {args.repeats}")
    print(f"full decode + resize : {t_naive * 1000:8.1f} ms")
    print(f"draft decode + resize: {t_ours * 1000:8.1f} ms")
    print(f"speed-up             : {t_naive / t_ours:8.2f}×")
    print(f"mean abs difference  : {mad:8.3f} of 255 ({mad / 255 * 100:.2f} %)")


if __name__ == "__main__":
    main()
