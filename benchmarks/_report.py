"""The one way a benchmark script ends: print its table and keep it under benchmarks/results/,
and the contact sheet its finds are checked on by eye."""

from __future__ import annotations

from pathlib import Path

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
