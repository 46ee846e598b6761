"""The report's overlay gallery (rule overlays): worst test sheets, the sheets the network was
least sure of, problem sheets and a seeded random sample, drawn with their predicted and
annotated mask outlines.

Split from :mod:`herbseg.reporting.plots` (which re-exports the names) so the rule's code is one
hop from ``workflow/scripts/overlays.py``; the figures themselves follow the same rules as there
(matplotlib's object API, no pyplot, so overlays can be drawn in threads).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import RendererAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.lines import Line2D
from PIL import Image
from scipy import ndimage

from herbseg.io.files import atomic_path
from herbseg.io.images import SheetError, load_rgb, read_mask
from herbseg.io.tables import read_table

PREDICTED_COLOUR = (230, 0, 170)  # magenta: rare on paper, leaves and labels
ANNOTATION_COLOUR = (0, 190, 255)  # cyan
OVERLAY_REASONS = ("worst-test", "doubtful", "problems", "random")
UNREADABLE_TILE = "unreadable-files"
TITLE_POINTS = 9


@dataclass
class OverlayItem:
    """One sheet to draw, and why it was picked (the report's sub-category)."""

    reason: str
    sheet_id: str
    path: str
    title: str
    predicted_mask: str = ""
    annotation: str = ""
    size: tuple[int, int] | None = None


@dataclass
class OverlayPlan:
    items: list[OverlayItem] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)  # one line per problem not drawable


def _num(value: object) -> float | None:
    try:
        out = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return None if math.isnan(out) else out


def _size(row: dict) -> tuple[int, int] | None:
    w, h = _num(row.get("width")), _num(row.get("height"))
    return (int(w), int(h)) if w and h else None


def _sheet_item(reason: str, row: dict, caption: str, annotations: dict[str, str]) -> OverlayItem:
    """An overlay of a measured sheet: its predicted mask, and its annotation where it has one."""
    return OverlayItem(
        reason,
        row["sheet_id"],
        row["path"],
        caption,
        predicted_mask=row.get("predicted_mask", ""),
        annotation=annotations.get(row["sheet_id"], ""),
        size=_size(row),
    )


def _measure_text(row: dict) -> str:
    area = _num(row.get("leaf_area_mm2"))
    leaves = _num(row.get("n_leaves"))
    parts = []
    if area is not None:
        parts.append(f"leaf area {area:,.0f}\u00a0mm²")  # no break before the unit
    if leaves is not None:
        parts.append(f"{int(leaves)} leaves")
    if row.get("scale_source"):
        parts.append(f"scale: {row['scale_source']}")
    return ", ".join(parts)


def plan_overlays(
    manifest: pd.DataFrame,
    problems: pd.DataFrame,
    per_sheet: pd.DataFrame,
    leaf_area: pd.DataFrame,
    *,
    n_worst: int = 6,
    n_doubtful: int = 6,
    n_problems: int = 6,
    n_random: int = 6,
    seed: int = 0,
) -> OverlayPlan:
    """Pick the sheets to draw: worst test sheets, the most doubtful sheets, problem sheets, and a
    seeded random sample.

    The worst sheets show what the model gets wrong where labels say so; the doubtful ones (the
    highest ``mask_doubt``, :func:`herbseg.model.masks.mask_doubt`) where it may be wrong on the
    unlabelled rest of the collection; the problem sheets what the run could not handle; and the
    random sample what a typical result looks like. A seed keeps the sample the same between
    reruns so two reports of one run can be compared. All tables are read as text
    (``dtype=str, keep_default_na=False``) by the caller.
    """
    plan = OverlayPlan()
    ok_rows = leaf_area[leaf_area["status"] == "ok"]
    by_id = {r["sheet_id"]: r for r in ok_rows.to_dict("records")}
    annotations = {
        r["sheet_id"]: r.get("mask_path", "")
        for r in manifest[manifest["status"] == "ok"].to_dict("records")
    }
    chosen: set[str] = set()

    worst = per_sheet.assign(_iou=pd.to_numeric(per_sheet["iou"], errors="coerce"))
    worst = worst.sort_values("_iou", kind="stable").head(n_worst)
    for rank, r in enumerate(worst.to_dict("records"), start=1):
        row = by_id.get(r["sheet_id"])
        if row is None:
            continue
        plan.items.append(
            _sheet_item(
                "worst-test",
                row,
                f"{r['sheet_id']} — test sheet {rank} of {len(per_sheet)} by IoU: "
                f"IoU {float(r['iou']):.3f}, precision {float(r['precision']):.3f}, "
                f"recall {float(r['recall']):.3f}",
                annotations,
            )
        )
        chosen.add(r["sheet_id"])

    doubt = pd.to_numeric(ok_rows.get("mask_doubt", pd.Series(dtype=str)), errors="coerce")
    doubtful = ok_rows.assign(_doubt=doubt).dropna(subset=["_doubt"])  # a baseline run: none
    doubtful = doubtful[~doubtful["sheet_id"].isin(chosen)]
    doubtful = doubtful.sort_values("_doubt", ascending=False, kind="stable").head(n_doubtful)
    for rank, row in enumerate(doubtful.to_dict("records"), start=1):
        plan.items.append(
            _sheet_item(
                "doubtful",
                row,
                f"{row['sheet_id']} — doubtful {rank} of {len(doubt.dropna())}: the network was "
                f"unsure of {row['_doubt']:.0%} of its plant; {_measure_text(row)}",
                annotations,
            )
        )
        chosen.add(row["sheet_id"])

    # Problems: ingest's list (unreadable, duplicate, unmatched annotations) plus sheets that
    # failed in a later stage; an unreadable file is listed, never drawn.
    candidates = []
    for r in problems.to_dict("records"):
        label = r["sheet_id"] or Path(r["path"]).name
        line = f"{r['kind']} {label}: {r['status']} — {r['error']}"
        if r["kind"] == "sheet" and r["status"] == "duplicate":
            candidates.append((r["sheet_id"], r["path"], line))
        else:
            plan.unreadable.append(line)
    listed = set(problems["path"])
    later = leaf_area[(leaf_area["status"] != "ok") & ~leaf_area["path"].isin(listed)]
    for r in later.to_dict("records"):
        candidates.append(
            (r["sheet_id"], r["path"], f"sheet {r['sheet_id']}: {r['status']} — {r['error']}")
        )
    sizes = {r["path"]: _size(r) for r in manifest.to_dict("records")}
    shown = 0
    for sheet_id, path, line in candidates:
        if shown >= n_problems:
            plan.unreadable.append(line + " (not drawn: enough problem sheets shown)")
            continue
        plan.items.append(OverlayItem("problems", sheet_id, path, line, size=sizes.get(path)))
        shown += 1

    pool = sorted(set(by_id) - chosen)
    if pool and n_random > 0:
        rng = np.random.default_rng(seed)
        picks = sorted(rng.choice(len(pool), size=min(n_random, len(pool)), replace=False))
        for i in picks:
            row = by_id[pool[i]]
            plan.items.append(
                _sheet_item("random", row, f"{row['sheet_id']} — {_measure_text(row)}", annotations)
            )
    return plan


def _thumb_size(size: tuple[int, int], long_side: int) -> tuple[int, int]:
    """Every overlay at one size (small scans enlarged too), so the gallery reads evenly."""
    w, h = size
    scale = long_side / max(w, h)
    return max(1, round(w * scale)), max(1, round(h * scale))


def _outline(mask_path: str, size: tuple[int, int], width: int = 2) -> np.ndarray:
    """Boundary pixels of a mask on the thumbnail grid (area-averaged, then thresholded)."""
    mask = read_mask(mask_path)
    small = Image.fromarray(mask.astype(np.uint8) * 255).resize(size, Image.Resampling.BILINEAR)
    m = np.asarray(small) >= 128
    edge = m & ~ndimage.binary_erosion(m)
    return ndimage.binary_dilation(edge, iterations=max(0, width - 1)) if width > 1 else edge


def wrap_to_width(text: str, width_px: int, points: float, dpi: int = 100) -> list[str]:
    """Break ``text`` at spaces into lines no wider than ``width_px`` when drawn at ``points``.

    Measured with the renderer that draws the figure, not guessed from a character count: a
    caption with a long sheet id, "—" and "mm²" ran past both edges of a narrow sheet when it
    was wrapped at a fixed number of characters. A word wider than a line (a long sheet id) is
    broken between characters, so it is all shown.
    """
    renderer = RendererAgg(max(1, width_px), 100, dpi)
    prop = FontProperties(size=points)

    def fits(line: str) -> bool:
        return renderer.get_text_width_height_descent(line, prop, ismath=False)[0] <= width_px

    def pieces(word: str) -> list[str]:
        out = [""]
        for ch in word:
            if out[-1] and not fits(out[-1] + ch):
                out.append("")
            out[-1] += ch
        return out

    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        line = ""
        for word in filter(None, paragraph.split(" ")):  # a no-break space holds
            for piece in pieces(word) if not fits(word) else [word]:
                trial = f"{line} {piece}" if line else piece
                if line and not fits(trial):
                    lines.append(line)
                    line = piece
                else:
                    line = trial
        lines.append(line)
    return lines


def render_overlay(item: OverlayItem, out: str | Path, long_side: int = 900) -> str | None:
    """Draw one sheet with its mask outlines; returns why it could not be drawn, else ``None``."""
    try:
        if item.size:
            tw, th = _thumb_size(item.size, long_side)
            rgb = load_rgb(item.path, min_size=(tw, th))
        else:
            rgb = load_rgb(item.path)
        h, w = rgb.shape[:2]
        tw, th = _thumb_size((w, h), long_side)
        img = np.asarray(Image.fromarray(rgb).resize((tw, th), Image.Resampling.LANCZOS)).copy()
    except (SheetError, OSError) as exc:
        return getattr(exc, "reason", str(exc))
    handles = []
    for path, colour, label in (
        (item.annotation, ANNOTATION_COLOUR, "annotation"),
        (item.predicted_mask, PREDICTED_COLOUR, "predicted mask"),
    ):
        if not path:
            continue
        try:
            img[_outline(path, (tw, th))] = colour
        except (SheetError, OSError, ValueError):
            label += " (unreadable)"
        handles.append(Line2D([], [], color=np.array(colour) / 255, lw=3, label=label))
    title = wrap_to_width(item.title, tw - 12, TITLE_POINTS)
    band = 12 + 16 * len(title)  # 9 pt at 100 dpi: 15 px a line
    fig = Figure(figsize=(tw / 100, (th + band) / 100))
    ax = fig.add_axes((0, 0, 1, th / (th + band)))
    ax.imshow(img, interpolation="none")
    ax.set_axis_off()
    fig.text(
        0.5, 1 - 6 / (th + band), "\n".join(title), fontsize=TITLE_POINTS, ha="center", va="top"
    )
    if handles:
        ax.legend(handles=handles, loc="lower right", fontsize=8, framealpha=0.85)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=100, pil_kwargs={"quality": 88})
    return None


def render_text_tile(lines: list[str], out: str | Path, title: str, max_lines: int = 40) -> None:
    """A placeholder in the overlay gallery for what has no image to show."""
    shown = lines[:max_lines]
    if len(lines) > max_lines:
        shown.append(f"… and {len(lines) - max_lines} more (see ingest/problems.csv)")
    height = 0.8 + 0.2 * len(shown)
    fig = Figure(figsize=(9, height), facecolor="#f4f4f4")
    fig.text(0.02, 1 - 0.25 / height, title, fontsize=12, weight="bold", va="top")
    fig.text(0.02, 1 - 0.65 / height, "\n".join(shown), fontsize=9, va="top", family="monospace")
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=100, bbox_inches="tight", pad_inches=0.3, pil_kwargs={"quality": 90})


def write_overlays(
    plan: OverlayPlan,
    out_dir: str | Path,
    *,
    long_side: int = 900,
    threads: int = 1,
    log: Callable[[str], None] = print,
) -> list[Path]:
    """Render the plan as ``<out_dir>/<reason>/<sheet_id>.jpg``; returns the files written.

    JPEG, because these are photographs of paper: PNG would make each a megabyte, and the
    report embeds every one of them.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    targets, used = [], set()
    for item in plan.items:  # a duplicate sheet id appears twice among the problems
        name, n = item.sheet_id or "sheet", 1
        while (item.reason, name) in used:
            n += 1
            name = f"{item.sheet_id}-{n}"
        used.add((item.reason, name))
        targets.append(out_dir / item.reason / f"{name}.jpg")
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        errors = list(pool.map(lambda a: render_overlay(*a, long_side), zip(plan.items, targets)))
    written = []
    unreadable = list(plan.unreadable)
    for item, target, error in zip(plan.items, targets, errors):
        if error is None:
            written.append(target)
        else:
            unreadable.append(f"{item.title} (not drawn: {error})")
    if unreadable:
        tile = out_dir / "problems" / f"{UNREADABLE_TILE}.jpg"
        render_text_tile(unreadable, tile, f"Problems without an image to show ({len(unreadable)})")
        written.append(tile)
    if not written:
        tile = out_dir / "random" / "no-sheets.jpg"
        render_text_tile(["no sheet of this run could be drawn"], tile, "Nothing to show")
        written.append(tile)
    counts = pd.Series([p.parent.name for p in written]).value_counts().to_dict()
    log(f"wrote {len(written)} overlays into {out_dir}: {counts}")
    return written


def run(inputs, outputs, params, *, threads: int, log: Callable[[str], None]) -> None:
    """Rule overlays: every table read as text, drawn by the plan."""
    p = params.report
    plan = plan_overlays(
        read_table(inputs.manifest, "text"),
        read_table(inputs.problems, "text"),
        # a run with a saved model (model.path) has no test sheets to rank
        read_table(inputs.per_sheet, "text")
        if getattr(inputs, "per_sheet", None)
        else pd.DataFrame(columns=["sheet_id", "iou", "precision", "recall"]),
        read_table(inputs.leaf_area, "text"),
        n_worst=p["n_worst"],
        n_doubtful=p["n_doubtful"],
        n_problems=p["n_problems"],
        n_random=p["n_random"],
        seed=p["seed"],
    )
    write_overlays(plan, outputs.overlays, long_side=p["long_side"], threads=threads, log=log)
