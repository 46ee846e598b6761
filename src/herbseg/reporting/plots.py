"""Figures for the run report: training curves, test scores, the collection, and sheet overlays.

The report is what a curator looks at to decide whether a run can be trusted, so each figure
answers one question: did training converge (curves), how good are the masks (scores, worst
sheets), what does the collection look like (area and count distributions), and what went wrong
(problem sheets). Everything here reads the run's CSVs and images and writes image files; it
never imports snakemake. Figures are built with matplotlib's object API (``Figure``, no pyplot):
it renders with Agg on headless cluster nodes and keeps no global state, so overlays can be
drawn in threads.
"""

from __future__ import annotations

import json
import math
import textwrap
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from PIL import Image
from scipy import ndimage

from herbseg.io.files import atomic_path
from herbseg.io.images import SheetError, load_rgb, read_mask

PREDICTED_COLOUR = (230, 0, 170)  # magenta: rare on paper, leaves and labels
ANNOTATION_COLOUR = (0, 190, 255)  # cyan
OVERLAY_REASONS = ("worst-test", "problems", "random")
UNREADABLE_TILE = "unreadable-files"
METRIC_LABELS = {
    "iou": "IoU",
    "dice": "Dice",
    "precision": "precision",
    "recall": "recall",
    "accuracy": "pixel accuracy",
}


def _tidy(*axes: Axes) -> None:
    for ax in axes:
        ax.spines[["top", "right"]].set_visible(False)


def _save(fig: Figure, out: str | Path, **kwargs) -> None:
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight", **kwargs)


def _note(ax: Axes, text: str) -> None:
    """An empty panel that says why it is empty, rather than a blank the reader must guess at."""
    ax.set_axis_off()
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, wrap=True)


# --- training -------------------------------------------------------------------------------


def read_model_card(model_dir: str | Path) -> dict:
    """The card beside the model, or ``{}``: the curves are still worth drawing without it."""
    path = Path(model_dir) / "model_card.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def plot_training(history: pd.DataFrame, out: str | Path, card: dict | None = None) -> None:
    """Loss and validation IoU per epoch, the selected epoch marked.

    The marker matters: the model the run kept is the best validation epoch, not the last, and
    a curator checking for over-fitting needs to see where that was.
    """
    card = card or {}
    fig = Figure(figsize=(11, 4))
    ax_loss, ax_iou = fig.subplots(1, 2)
    _tidy(ax_loss, ax_iou)
    if history.empty:
        _note(ax_loss, "no epochs recorded")
        _note(ax_iou, "no epochs recorded")
    else:
        ep = history["epoch"]
        ax_loss.plot(ep, history["train_loss"], "o-", label="train loss", ms=3)
        if history["val_loss"].notna().any():
            ax_loss.plot(ep, history["val_loss"], "s-", label="validation loss", ms=3)
        ax_loss.set(xlabel="epoch", ylabel="loss", title="Loss")
        ax_loss.legend(frameon=False)
        if history["val_iou"].notna().any():
            ax_iou.plot(ep, history["val_iou"], "o-", color="tab:green", ms=3)
            best = card.get("best_epoch") or int(ep[history["val_iou"].idxmax()])
            best_iou = history.loc[ep == best, "val_iou"]
            if not best_iou.empty:
                ax_iou.plot(
                    [best],
                    [best_iou.iloc[0]],
                    "*",
                    ms=14,
                    color="tab:red",
                    label=f"kept: epoch {best}, IoU {best_iou.iloc[0]:.3f}",
                )
                ax_iou.legend(frameon=False, loc="lower right")
            ax_iou.set_ylim(0, 1)
            ax_iou.set(xlabel="epoch", ylabel="IoU", title="Validation IoU")
        else:
            _note(ax_iou, "no validation sheets: the model was selected by training loss")
        for ax in (ax_loss, ax_iou):
            if len(ep) <= 20:
                ax.set_xticks(ep)
            else:
                ax.xaxis.get_major_locator().set_params(integer=True)
    secs = history["seconds"] if "seconds" in history else pd.Series(dtype=float)
    parts = [f"{len(history)} epoch{'' if len(history) == 1 else 's'}"]
    if secs.notna().any():
        parts.append(f"median {secs.median():.0f} s/epoch, total {secs.sum() / 60:.1f} min")
    if card.get("stop_reason"):
        parts.append(f"stopped: {card['stop_reason']}")
    if card.get("n_train") is not None:
        parts.append(f"{card['n_train']} train / {card.get('n_val', 0)} val sheets")
    fig.suptitle("Training — " + "; ".join(parts), fontsize=11)
    _save(fig, out)


# --- evaluation -----------------------------------------------------------------------------


def plot_evaluation(
    per_sheet: pd.DataFrame, summary: pd.DataFrame, out: str | Path, max_bars: int = 30
) -> None:
    """The pooled test scores as a table beside per-sheet IoU, worst first.

    Pooled scores hide a few bad sheets; the per-sheet bars show whether the error is spread
    evenly or concentrated on sheets worth looking at (they are in the overlays).
    """
    n = len(per_sheet)
    shown = per_sheet.sort_values("iou").head(max_bars)
    height = max(3.5, 0.28 * len(shown) + 1.5)
    fig = Figure(figsize=(11, height))
    ax_tab, ax_bar = fig.subplots(1, 2, width_ratios=[1, 1.6])
    _tidy(ax_bar)
    ax_tab.set_axis_off()
    if summary.empty:
        _note(ax_tab, "no summary")
    else:
        row = summary.iloc[0]
        cells = [
            [label, f"{row[name]:.4f}"] for name, label in METRIC_LABELS.items() if name in row
        ]
        cells.append(["test sheets", f"{int(row.get('n_sheets', n))}"])
        table = ax_tab.table(
            cells, colLabels=["metric (pooled pixels)", "value"], loc="center", cellLoc="left"
        )
        table.scale(1, 1.6)
        table.set_fontsize(11)
        ax_tab.set_title("Test split")
    if shown.empty:
        _note(ax_bar, "no test sheets were scored")
    else:
        y = np.arange(len(shown))
        ax_bar.barh(y, shown["iou"], color="tab:blue")
        ax_bar.set_yticks(y, shown["sheet_id"].astype(str), fontsize=8)
        ax_bar.invert_yaxis()
        ax_bar.set_xlim(0, 1)
        ax_bar.set_xlabel("IoU")
        extra = f" (worst {len(shown)} of {n})" if n > len(shown) else ""
        ax_bar.set_title(f"IoU per test sheet{extra}")
        for yi, v in zip(y, shown["iou"]):
            ax_bar.text(min(v + 0.01, 0.9), yi, f"{v:.3f}", va="center", fontsize=8)
    _save(fig, out)


# --- collection -----------------------------------------------------------------------------

COLLECTION_COLUMNS = ["status", "n_leaves", "leaf_area_mm2", "scale_source"]


def read_collection(path: str | Path) -> pd.DataFrame:
    """Only the columns the figure needs: leaf_area.csv of a million sheets is large."""
    return pd.read_csv(path, usecols=lambda c: c in COLLECTION_COLUMNS, keep_default_na=True)


def _area_bins(values: np.ndarray) -> tuple[np.ndarray, bool]:
    """Log bins when the areas span more than two decades (tiny fragments beside big leaves)."""
    positive = values[values > 0]
    if positive.size and positive.max() / positive.min() > 100:
        return np.geomspace(positive.min(), positive.max(), 40), True
    return np.histogram_bin_edges(values, bins=min(40, max(5, values.size // 2))), False


def plot_collection(leaf_area: pd.DataFrame, out: str | Path) -> None:
    """Leaf area and leaf count over the collection, and how many sheets could be measured.

    Sheets without a scale have no mm² and are counted, not silently dropped, so a histogram of
    a few hundred sheets is not mistaken for the whole collection.
    """
    fig = Figure(figsize=(11, 7.5))
    axes = fig.subplots(2, 2)
    _tidy(*axes.flat)
    ok = leaf_area[leaf_area["status"] == "ok"]
    area = pd.to_numeric(ok.get("leaf_area_mm2"), errors="coerce").dropna().to_numpy()
    ax = axes[0, 0]
    if area.size:
        bins, log = _area_bins(area)
        ax.hist(area, bins=bins, color="tab:green")
        if log:
            ax.set_xscale("log")
        ax.axvline(
            np.median(area), color="k", ls="--", lw=1, label=f"median {np.median(area):,.0f} mm²"
        )
        ax.legend(frameon=False)
        ax.set(xlabel="leaf area per sheet (mm²)", ylabel="sheets")
        ax.set_title(f"Leaf area ({area.size} sheets with a scale)")
    else:
        _note(ax, "no sheet has a known scale, so no area in mm²")
    ax = axes[0, 1]
    count = pd.to_numeric(ok.get("n_leaves"), errors="coerce").dropna().astype(int).to_numpy()
    if count.size:
        top = int(np.percentile(count, 99.5)) if count.size > 200 else int(count.max())
        bins = np.arange(-0.5, top + 1.5, max(1, math.ceil((top + 1) / 40)))
        ax.hist(np.minimum(count, top), bins=bins, color="tab:olive")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.set(xlabel="leaves per sheet", ylabel="sheets")
        ax.set_title(f"Leaf count ({count.size} measured sheets, median {np.median(count):g})")
    else:
        _note(ax, "no measured sheets")
    for ax, column, title in (
        (axes[1, 0], "status", "Sheets by status"),
        (axes[1, 1], "scale_source", "Measured sheets by scale source"),
    ):
        data = leaf_area if column == "status" else ok
        counts = data[column].fillna("none").astype(str).value_counts()
        if counts.empty:
            _note(ax, "nothing to count")
            continue
        ax.barh(counts.index, counts.to_numpy(), color="tab:gray", height=0.5)
        ax.set_ylim(max(len(counts), 3) - 0.5, -0.5)  # first on top; one bar is not a wall
        for yi, v in enumerate(counts.to_numpy()):
            ax.text(v, yi, f" {v}", va="center", fontsize=9)
        ax.set(xlabel="sheets", title=title)
    n_ok = len(ok)
    fig.suptitle(f"Collection — {len(leaf_area)} sheet files, {n_ok} measured", fontsize=12)
    fig.tight_layout()
    _save(fig, out)


# --- overlays -------------------------------------------------------------------------------


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


def _measure_text(row: dict) -> str:
    area = _num(row.get("leaf_area_mm2"))
    leaves = _num(row.get("n_leaves"))
    parts = []
    if area is not None:
        parts.append(f"leaf area {area:,.0f} mm²")
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
    n_problems: int = 6,
    n_random: int = 6,
    seed: int = 0,
) -> OverlayPlan:
    """Pick the sheets to draw: worst test sheets, problem sheets, and a seeded random sample.

    The worst sheets show what the model gets wrong, the problem sheets what the run could not
    handle, and the random sample what a typical result looks like; a seed keeps the sample the
    same between reruns so two reports of one run can be compared. All tables are read as text
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
            OverlayItem(
                "worst-test",
                r["sheet_id"],
                row["path"],
                f"{r['sheet_id']} — test sheet {rank} of {len(per_sheet)} by IoU: "
                f"IoU {float(r['iou']):.3f}, precision {float(r['precision']):.3f}, "
                f"recall {float(r['recall']):.3f}",
                predicted_mask=row.get("predicted_mask", ""),
                annotation=annotations.get(r["sheet_id"], ""),
                size=_size(row),
            )
        )
        chosen.add(r["sheet_id"])

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
                OverlayItem(
                    "random",
                    row["sheet_id"],
                    row["path"],
                    f"{row['sheet_id']} — {_measure_text(row)}",
                    predicted_mask=row.get("predicted_mask", ""),
                    annotation=annotations.get(row["sheet_id"], ""),
                    size=_size(row),
                )
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
    title = textwrap.wrap(item.title, width=max(30, int(tw / 6)))  # ~6 px per 9 pt character
    band = 14 + 14 * len(title)
    fig = Figure(figsize=(tw / 100, (th + band) / 100))
    ax = fig.add_axes((0, 0, 1, th / (th + band)))
    ax.imshow(img, interpolation="none")
    ax.set_axis_off()
    fig.text(0.5, 1 - 6 / (th + band), "\n".join(title), fontsize=9, ha="center", va="top")
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
