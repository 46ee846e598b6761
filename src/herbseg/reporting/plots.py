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
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from herbseg.io.files import atomic_path
from herbseg.io.tables import read_table

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

COLLECTION_COLUMNS = ["status", "n_leaves", "leaf_area_mm2", "scale_source", "mask_doubt"]


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
    """Leaf area and leaf count over the collection, how many sheets could be measured, and how
    unsure the network was of its masks.

    Sheets without a scale have no mm² and are counted, not silently dropped, so a histogram of
    a few hundred sheets is not mistaken for the whole collection. The doubt histogram shows
    whether the doubtful sheets the report draws are a thin tail or a second hump worth
    checking as a group (a scanner, a herbarium; or grasses, whose thin blades raise the doubt
    where the masks are good: BENCHMARKS.md, "A fresh machine, grasses and rosettes").
    """
    fig = Figure(figsize=(11, 10.5))
    grid = fig.add_gridspec(3, 2)
    axes = np.array([[fig.add_subplot(grid[r, c]) for c in range(2)] for r in range(2)])
    ax_doubt = fig.add_subplot(grid[2, :])
    _tidy(*axes.flat, ax_doubt)
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
    # a leaf_area.csv written before mask_doubt existed has no such column
    doubt = ok["mask_doubt"] if "mask_doubt" in ok else pd.Series(dtype=float)
    _plot_doubt(ax_doubt, pd.to_numeric(doubt, errors="coerce").dropna())
    n_ok = len(ok)
    fig.suptitle(f"Collection — {len(leaf_area)} sheet files, {n_ok} measured", fontsize=12)
    fig.tight_layout()
    _save(fig, out)


def _plot_doubt(ax: Axes, doubt: pd.Series) -> None:
    """``mask_doubt`` over the measured sheets, the ten most doubtful per cent shaded."""
    if doubt.empty:
        _note(ax, "no mask_doubt: the masks are the classical baseline's, or from before it")
        return
    values = doubt.to_numpy(float)
    ax.hist(values, bins=np.linspace(0, 1, 51), color="tab:purple")
    top = float(np.quantile(values, 0.9))
    ax.axvspan(top, 1, color="tab:purple", alpha=0.08, lw=0)
    ax.axvline(top, color="k", ls=":", lw=1, label=f"most doubtful 10 %: above {top:.2f}")
    ax.axvline(np.median(values), color="k", ls="--", lw=1, label=f"median {np.median(values):.2f}")
    ax.legend(frameon=False)
    ax.set(xlim=(0, 1), xlabel="mask_doubt (share of the plant the network was unsure of)",
           ylabel="sheets")  # fmt: skip
    ax.set_title(
        f"Mask doubt ({values.size} network masks; sort leaf_area.csv by mask_doubt to check "
        "the highest first)"
    )


# --- the rules (plot_training, plot_evaluation, plot_collection) -----------------------------


def run_training(inputs, outputs, params, *, threads: int, log: Callable[[str], None]) -> None:
    """Rule plot_training: the curves of ``inputs.history`` with the model's card."""
    history = pd.read_csv(inputs.history)
    plot_training(history, outputs.figure, read_model_card(inputs.model))
    log(f"plotted {len(history)} epochs into {outputs.figure}")


def run_evaluation(inputs, outputs, params, *, threads: int, log: Callable[[str], None]) -> None:
    """Rule plot_evaluation: the test scores."""
    per_sheet = read_table(inputs.per_sheet, "scores")
    plot_evaluation(per_sheet, pd.read_csv(inputs.summary), outputs.figure)
    log(f"plotted {len(per_sheet)} test sheets into {outputs.figure}")


def run_collection(inputs, outputs, params, *, threads: int, log: Callable[[str], None]) -> None:
    """Rule plot_collection: leaf area and count over the collection."""
    sheets = read_collection(inputs.leaf_area)
    plot_collection(sheets, outputs.figure)
    log(f"plotted {len(sheets)} sheets into {outputs.figure}")
