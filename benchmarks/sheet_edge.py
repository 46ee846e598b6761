"""The sheet's edge on the mask's grid against the small picture's (``predict.sheet_only``).

``herbseg.measurement.sheet_region`` finds the paper on a 256-px picture and, since session 23,
places its edge again on the mask's own grid. The naive way, side by side in one process, is
the coarse hull alone (grown by one small pixel, brought to the grid), which is what
``sheet_region`` returned before. Per collection: milliseconds per sheet for both, how much
region the tight edge takes away, how much of the annotated plant that is (registered Violaceae
masks; LeafMachine2's agent-checked reference) and, given LeafMachine2 masks predicted with
``sheet_only: false`` (``--masks``), how many mask pixels and parts of at least 100 pixels lie in
the coarse region but not the tight one (the table slivers the measure stage counted as leaves).

Run (after ``violaceae_recipe.py`` registered the masks and ``lm2_reference.py`` drew its
reference; ``no_sheet_only.yaml`` holds ``predict: {sheet_only: false}``):
    .venv/bin/python benchmarks/lm2_overlays.py --model MODEL --out OUT --config \\
        config/config.yaml config/violaceae.yaml config/violaceae_recipe.yaml no_sheet_only.yaml
    PYTHONPATH=src .venv/bin/python benchmarks/sheet_edge.py \\
        --registered results/violaceae/registered/masks --reference REF/masks \\
        --masks OUT/thin_auto/masks --out results/sheet_edge
Writes ``<out>/results.md`` (with both ways timed on one sheet brought to each ``--sizes``
grid, up to a 7500-px scan) and ``<out>/removed.jpg`` (three LeafMachine2 sheets: what the tight
edge removes from the masks in red, widened to be seen; the mask's outline in cyan).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage as ndi
from skimage.color import rgb2lab

from herbseg.io.geometry import image_to_grid, output_size
from herbseg.io.images import load_rgb, read_mask
from herbseg.measurement.sheet_region import LONG_SIDE, find_sheet, sheet_region

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
DRAWN = ("LM_Validate_LowRes_5", "LM_Validate_LowRes_10", "LM_Validate_LowRes_12")


def coarse_region(rgb: np.ndarray) -> np.ndarray | None:
    """The naive way: the hull of the 256-px picture grown by one of its pixels, on the grid."""
    h, w = rgb.shape[:2]
    hull = find_sheet(rgb2lab(image_to_grid(rgb, *output_size(w, h, LONG_SIDE))), margin=0.0)
    hull = ndi.binary_dilation(hull, iterations=1)
    if hull.all():
        return None
    picture = Image.fromarray(hull.astype(np.uint8) * 255)
    return np.asarray(picture.resize((w, h), Image.Resampling.NEAREST)) >= 128


def parts(mask: np.ndarray, min_px: int = 100) -> int:
    return int((np.bincount(ndi.label(mask)[0].ravel())[1:] >= min_px).sum())


def by_size(sizes: list[str]) -> str:
    """Both ways on one LeafMachine2 sheet brought to each ``WxH``: best of three, ms, and the
    peak of Python-tracked memory (numpy's arrays) in MB; above ``EDGE_LONG_SIDE`` the tight
    edge is read at every k-th pixel."""
    import tracemalloc

    base = Image.open(sorted((SHARED / "leafmachine2_demo").glob("*.jpg"))[2]).convert("RGB")
    lines = ["| mask grid | coarse (naive): ms, MB | tight: ms, MB |", "|---|---|---|"]
    for size in sizes:
        w, h = (int(v) for v in size.split("x"))
        rgb = np.asarray(base.resize((w, h)))
        cells = []
        for way in (coarse_region, sheet_region):
            way(rgb)
            tracemalloc.start()
            best = min(_timed(way, rgb) for _ in range(3))
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            cells.append(f"{best * 1e3:.0f} ms, {peak / 1e6:.0f} MB")
        lines.append(f"| {w}×{h} | {cells[0]} | {cells[1]} |")
        print(lines[-1], flush=True)
    return "\n".join(lines) + "\n"


def _timed(way, rgb: np.ndarray) -> float:
    t0 = time.perf_counter()
    way(rgb)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--registered", type=Path, help="registered Violaceae masks (<stem>_mask.png)")
    ap.add_argument("--reference", type=Path, help="LeafMachine2 reference masks (<stem>.png)")
    ap.add_argument("--masks", type=Path, help="predicted LeafMachine2 masks (<stem>.png)")
    ap.add_argument("--out", type=Path, default=REPO / "results" / "sheet_edge")
    ap.add_argument("--sizes", nargs="*", default=["1400x2100", "2000x3000", "5000x7500"],
                    help="mask grids to time both ways on (WxH)")  # fmt: skip
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    sized = by_size(args.sizes)
    collections = {
        "LeafMachine2": sorted((SHARED / "leafmachine2_demo").glob("*.jpg")),
        "Violaceae": sorted((SHARED / "violaceae" / "images").glob("*/*.jpg")),
    }
    lines = [
        "| collection | sheets | with a region | ms/sheet coarse (naive) | ms/sheet tight | ratio "
        "| region px taken, per sheet | annotated plant px taken | mask px taken | parts ≥ 100 px "
        "(coarse → tight) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    tiles = []
    for name, paths in collections.items():
        t_coarse = t_tight = 0.0
        n_region = taken = plant_taken = mask_taken = parts_coarse = parts_tight = 0
        for path in paths:
            rgb = load_rgb(path)
            t0 = time.perf_counter()
            coarse = coarse_region(rgb)
            t1 = time.perf_counter()
            tight = sheet_region(rgb)
            t2 = time.perf_counter()
            t_coarse, t_tight = t_coarse + t1 - t0, t_tight + t2 - t1
            if coarse is None:
                assert tight is None, path
                continue
            assert not (tight & ~coarse).any(), path  # the tight edge only ever takes away
            n_region += 1
            gone = coarse & ~tight
            taken += int(gone.sum())
            truth = (
                args.registered / f"{path.stem}_mask.png" if name == "Violaceae" and args.registered
                else args.reference / f"{path.stem}.png" if args.reference else None
            )  # fmt: skip
            if truth is not None and truth.exists():
                plant_taken += int((read_mask(truth) & gone).sum())
            predicted = args.masks / f"{path.stem}.png" if args.masks else None
            if name == "LeafMachine2" and predicted is not None and predicted.exists():
                mask = read_mask(predicted) & coarse
                mask_taken += int((mask & gone).sum())
                parts_coarse, parts_tight = (
                    parts_coarse + parts(mask),
                    parts_tight + parts(mask & tight),
                )
                if path.stem in DRAWN:
                    vis = rgb.copy()
                    kept = mask & tight
                    vis[kept & ~ndi.binary_erosion(kept, iterations=2)] = (0, 190, 255)
                    vis[ndi.binary_dilation(mask & gone, iterations=4)] = (255, 0, 0)
                    tiles.append(np.asarray(Image.fromarray(vis).resize((467, 700))))
        n = len(paths)
        masks_cells = (f"{mask_taken:,} | {parts_coarse} → {parts_tight}"
                       if name == "LeafMachine2" and args.masks else "— | —")  # fmt: skip
        lines.append(
            f"| {name} | {n} | {n_region} | {t_coarse / n * 1e3:.1f} | {t_tight / n * 1e3:.1f} | "
            f"{t_tight / t_coarse:.1f}× | {taken / max(1, n_region):,.0f} | {plant_taken:,} | "
            f"{masks_cells} |"
        )
        print(lines[-1], flush=True)
    md = "\n".join(lines) + "\n\n" + sized
    (args.out / "results.md").write_text(md)
    if tiles:
        Image.fromarray(np.concatenate(tiles, axis=1)).save(args.out / "removed.jpg", quality=85)
    print(md)


if __name__ == "__main__":
    main()
