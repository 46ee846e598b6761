"""The one way a benchmark script ends: print its table and keep it under benchmarks/results/,
and the contact sheet its finds are checked on by eye, with changes to masks drawn one way."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def write_report(lines: list[str], out: Path) -> None:
    """Print ``lines`` and write them to ``out`` (folders created), so the figures quoted in
    BENCHMARKS.md are the file a rerun overwrites."""
    report = "\n".join(lines)
    print(report)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(report + "\n")


def montage(
    tiles: list[Image.Image], out: Path, size: tuple[int, int] = (150, 215), columns: int = 10
) -> None:
    """``tiles`` shrunk to fit ``size`` and laid out ``columns`` to a row on white, as a JPEG at
    ``out`` (a blank row when there are none)."""
    rows = max(1, (len(tiles) + columns - 1) // columns)
    canvas = Image.new("RGB", (size[0] * columns, size[1] * rows), "white")
    for i, tile in enumerate(tiles):
        tile.thumbnail(size)
        canvas.paste(tile, ((i % columns) * size[0], (i // columns) * size[1]))
    canvas.save(out, quality=85)


def change_overlay(rgb: np.ndarray, before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """``rgb`` with two masks of it drawn the one way every benchmark draws a change: in both,
    half-tone magenta; added by ``after``, green; taken out by it, red."""
    vis = rgb.astype(np.float32)
    both = before & after
    vis[both] = vis[both] * 0.5 + np.array([255, 0, 255]) * 0.5
    vis[after & ~before] = (0, 255, 0)
    vis[before & ~after] = (255, 0, 0)
    return vis.astype(np.uint8)
