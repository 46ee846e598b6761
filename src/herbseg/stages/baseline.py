"""The classical baseline: colour segmentation of plant material on a sheet, without a network.

Why it exists: a deep model is only worth its training cost if it beats what a colour threshold
does on the same sheets, and a team with no annotations at all still needs first candidate masks
to correct (:mod:`herbseg.stages.bootstrap`). The baseline works in CIELAB, where "paper" is a
compact
cluster (light, nearly grey) and plant tissue — green, yellow-green or brown when dried — sits
away from it:

1. **Sheet.** Paper is the largest bright component; its convex hull is the sheet, and
   everything outside it (the table or backdrop of a photographed sheet) is background.
2. **Plant score.** Each pixel's colour relative to the sheet's own paper colour (which absorbs
   white balance and yellowed paper) is scored, either by Otsu's threshold on the colour
   distance (``method: otsu``, no training data needed) or by a logistic model with a learned
   threshold fitted on annotated sheets (``method: learned``).
3. **Known non-plant objects.** Label text, barcodes, rulers and ink are nearly grey; colour
   charts and stamps have hues no plant has (blue, purple, saturated red). Components whose
   pixels are mostly grey or off-hue are dropped, and so are components that fill their bounding
   box like a printed rectangle.
4. **Clean-up** through :func:`herbseg.measurement.postprocess.clean`, so the baseline and the
network are
   cleaned the same way.

Everything is computed at ``long_side`` pixels and brought back to the requested output size.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image
from scipy import ndimage as ndi
from skimage.color import rgb2lab
from skimage.filters import threshold_otsu
from skimage.measure import label, regionprops

from herbseg.config.settings import settings_from
from herbseg.io.files import atomic_write_text, write_csv
from herbseg.io.geometry import output_size
from herbseg.io.images import SheetError, load_rgb, read_mask, write_mask
from herbseg.io.progress import Progress
from herbseg.io.tables import PREDICTION_COLUMNS, read_table, read_tables
from herbseg.measurement.postprocess import PostprocessSettings, clean
from herbseg.measurement.sheet_region import find_sheet

METHODS = ("otsu", "learned")
MODEL_FORMAT = "herbseg-baseline/1"
# Hue window of plant tissue in Lab (degrees of atan2(b*, a*)): from reddish-brown stems and
# dried leaves (~40°) through yellow to green and blue-green (~200°).
PLANT_HUE = (35.0, 200.0)


@dataclass(frozen=True)
class BaselineSettings:
    """What the ``baseline:`` config section controls; see ``config/README.md``."""

    method: str = "learned"
    long_side: int = 1024
    smooth: float = 1.0
    sheet_margin: float = 0.01
    grey_chroma: float = 6.0
    max_grey_fraction: float = 0.6
    max_offhue_fraction: float = 0.5
    max_fill: float = 0.85
    min_fill_area: float = 0.002
    fill_holes_px: int = 200
    speck_radius_px: float = 0.0
    min_component_px: int = 150

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"baseline.method must be one of {METHODS}, got {self.method!r}")
        if self.long_side < 64:
            raise ValueError("baseline.long_side must be at least 64")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def cleanup(self) -> PostprocessSettings:
        """The baseline's own morphological clean-up, as :mod:`herbseg.measurement.postprocess`
        runs it."""
        return PostprocessSettings(self.fill_holes_px, self.speck_radius_px, self.min_component_px)


@dataclass
class PixelModel:
    """A logistic model of plant vs. not plant on Lab features, with its decision threshold.

    The threshold is learned too (the one that maximises pooled IoU on the fitting sheets), since
    the logistic fit balances classes rather than optimising the overlap that is reported.
    """

    mean: list[float]
    std: list[float]
    weights: list[float]
    bias: float
    threshold: float
    n_sheets: int = 0
    fit_iou: float | None = None

    def score(self, feats: np.ndarray) -> np.ndarray:
        """Plant probability of an ``N×F`` feature array."""
        z = (feats - np.asarray(self.mean, np.float32)) / np.asarray(self.std, np.float32)
        logit = z @ np.asarray(self.weights, np.float32) + np.float32(self.bias)
        return 1.0 / (1.0 + np.exp(-np.clip(logit, -30, 30)))


def save_fitted(
    path: str | os.PathLike, settings: BaselineSettings, model: PixelModel | None
) -> None:
    """Write what the baseline stage fitted (``null`` for Otsu) with the settings it used."""
    data = {
        "format": MODEL_FORMAT,
        "settings": settings.to_dict(),
        "model": asdict(model) if model is not None else None,
    }
    atomic_write_text(path, json.dumps(data, indent=2) + "\n")


def load_fitted(path: str | os.PathLike) -> PixelModel | None:
    """The fitted model of a baseline stage (``None`` when it used Otsu)."""
    data = json.loads(Path(path).read_text())
    if data.get("format") != MODEL_FORMAT:
        raise ValueError(f"{path} is not a herbseg baseline model ({MODEL_FORMAT})")
    return PixelModel(**data["model"]) if data.get("model") else None


# --------------------------------------------------------------------------- image analysis


@dataclass
class SheetAnalysis:
    """The per-sheet quantities both methods and the object filter need, at working size."""

    lab: np.ndarray  # H×W×3 float32
    sheet: np.ndarray  # H×W bool: inside the sheet (paper hull)
    paper: np.ndarray  # 3 floats: the paper's median Lab colour
    features: np.ndarray  # H×W×F float32
    grey: np.ndarray  # H×W bool: chroma below ``grey_chroma`` (print, ink, shadows)
    offhue: np.ndarray  # H×W bool: coloured, outside the plant hue window (charts, stamps)


def working_size(width: int, height: int, long_side: int) -> tuple[int, int]:
    """The analysis size: the sheet's aspect at ``long_side`` (never enlarged)."""
    f = min(1.0, long_side / max(width, height))
    return max(1, round(width * f)), max(1, round(height * f))


def _resize_rgb(rgb: np.ndarray, long_side: int) -> np.ndarray:
    w, h = working_size(rgb.shape[1], rgb.shape[0], long_side)
    if (w, h) == (rgb.shape[1], rgb.shape[0]):
        return rgb
    return np.asarray(
        Image.fromarray(rgb).resize((w, h), Image.Resampling.BILINEAR, reducing_gap=2)
    )


def _hue_deg(lab: np.ndarray) -> np.ndarray:
    return np.degrees(np.arctan2(lab[..., 2], lab[..., 1])) % 360.0


def analyse(rgb: np.ndarray, settings: BaselineSettings) -> SheetAnalysis:
    """Lab colours, sheet region, paper colour and per-pixel features at working size."""
    small = _resize_rgb(rgb, settings.long_side)
    lab = rgb2lab(small).astype(np.float32)
    if settings.smooth > 0:  # JPEG blocks and paper grain: a pixel is judged with its neighbours
        lab = np.stack([ndi.gaussian_filter(lab[..., i], settings.smooth) for i in range(3)], -1)
    sheet = find_sheet(lab, settings.sheet_margin)
    inside = lab[sheet]
    lightness_cut = np.percentile(inside[:, 0], 50)
    paper = np.median(inside[inside[:, 0] >= lightness_cut], axis=0).astype(np.float32)
    # the object filter's colour classes, once per sheet: fitting filters each sheet's mask at
    # 18 thresholds, and the hue's arctan was most of that
    chroma = np.hypot(lab[..., 1], lab[..., 2])
    hue = _hue_deg(lab)
    grey = chroma < settings.grey_chroma
    offhue = ((hue < PLANT_HUE[0]) | (hue > PLANT_HUE[1])) & ~grey
    return SheetAnalysis(lab, sheet, paper, _features(lab, paper), grey, offhue)


def _features(lab: np.ndarray, paper: np.ndarray) -> np.ndarray:
    """Colour relative to the paper, chroma, and a local-contrast term (uneven lighting)."""
    d = lab - paper
    chroma = np.hypot(lab[..., 1], lab[..., 2])
    delta_e = np.sqrt((d**2).sum(-1))
    local = lab[..., 0] - ndi.uniform_filter(lab[..., 0], size=31)
    base = [d[..., 0], d[..., 1], d[..., 2], chroma, delta_e, local]
    quad = [d[..., 0] * d[..., 1], d[..., 0] * d[..., 2], d[..., 1] * d[..., 2],
            d[..., 1] ** 2, d[..., 2] ** 2, chroma * d[..., 0]]  # fmt: skip
    return np.stack(base + quad, -1).astype(np.float32)


def plant_score(analysis: SheetAnalysis, model: PixelModel | None) -> tuple[np.ndarray, float]:
    """A score map and the threshold above which a pixel is plant.

    Without a model: the colour distance from paper, thresholded by Otsu over the sheet.
    """
    if model is None:
        delta_e = analysis.features[..., 4]
        inside = delta_e[analysis.sheet]
        cut = float(threshold_otsu(inside)) if inside.size and np.ptp(inside) > 0 else np.inf
        return delta_e, cut
    h, w, f = analysis.features.shape
    prob = model.score(analysis.features.reshape(-1, f)).reshape(h, w)
    return prob, model.threshold


def suppress_objects(
    mask: np.ndarray, analysis: SheetAnalysis, settings: BaselineSettings
) -> np.ndarray:
    """Drop components that are labels, rulers, barcodes, ink, colour charts or stamps.

    Grey: most pixels below ``grey_chroma`` (print, ink, barcodes, rulers, shadows). Off-hue:
    most pixels outside the plant hue window (colour chart patches, purple stamps, blue ink).
    Printed rectangles: a large component that fills its bounding box (a label's card).
    """
    labels = label(mask, connectivity=2)
    if labels.max() == 0:
        return mask
    index = np.arange(1, labels.max() + 1)
    grey_frac = ndi.mean(analysis.grey, labels, index)
    off_frac = ndi.mean(analysis.offhue, labels, index)
    drop = (grey_frac > settings.max_grey_fraction) | (off_frac > settings.max_offhue_fraction)
    min_area = settings.min_fill_area * mask.size
    for prop in regionprops(labels):
        if prop.area >= min_area and prop.extent > settings.max_fill:
            drop[prop.label - 1] = True
    keep = np.concatenate([[False], ~drop])
    return keep[labels]


def segment(
    rgb: np.ndarray,
    settings: BaselineSettings,
    model: PixelModel | None = None,
    out_size: tuple[int, int] | None = None,
    sheet_width: int | None = None,
) -> np.ndarray:
    """The baseline's plant mask of one sheet, at ``out_size=(w, h)`` (default: the input's).

    ``sheet_width`` is the sheet's own width when ``rgb`` is a reduced decode, so clean-up sizes
    (in sheet pixels) keep their meaning.
    """
    if settings.method == "learned" and model is None:
        raise ValueError("baseline.method 'learned' needs a fitted model (see fit_model)")
    analysis = analyse(rgb, settings)
    score, cut = plant_score(analysis, model if settings.method == "learned" else None)
    out_size = out_size or (rgb.shape[1], rgb.shape[0])
    return finish(score > cut, analysis, settings, sheet_width or rgb.shape[1], out_size)


def finish(
    raw: np.ndarray,
    analysis: SheetAnalysis,
    settings: BaselineSettings,
    sheet_width: int,
    out_size: tuple[int, int],
) -> np.ndarray:
    """Sheet region, object filter and clean-up of a raw threshold mask, resized to ``out_size``."""
    mask = raw & analysis.sheet
    mask = suppress_objects(mask, analysis, settings)
    mask = clean(mask, settings.cleanup, scale=mask.shape[1] / sheet_width)
    out_w, out_h = out_size
    if mask.shape != (out_h, out_w):
        mask = (
            np.asarray(
                Image.fromarray(mask.astype(np.uint8) * 255).resize(
                    (out_w, out_h), Image.Resampling.BILINEAR
                )
            )
            >= 128
        )
    return mask


# --------------------------------------------------------------------------- fitting


def _truth_on(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    if mask.shape == shape:
        return mask
    im = Image.fromarray(mask.astype(np.uint8) * 255).resize((shape[1], shape[0]), Image.NEAREST)
    return np.asarray(im) >= 128


def _logistic(x: np.ndarray, y: np.ndarray, weight: np.ndarray, steps: int = 25) -> np.ndarray:
    """Weighted logistic regression by Newton's method, with a little ridge for stability."""
    xb = np.hstack([x, np.ones((len(x), 1), x.dtype)]).astype(np.float64)
    beta = np.zeros(xb.shape[1])
    ridge = 1e-3 * np.eye(xb.shape[1])
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-np.clip(xb @ beta, -30, 30)))
        grad = xb.T @ (weight * (p - y)) + ridge @ beta
        hess = (xb * (weight * p * (1 - p))[:, None]).T @ xb + ridge
        step = np.linalg.solve(hess, grad)
        beta -= step
        if np.abs(step).max() < 1e-6:
            break
    return beta


def fit_model(
    samples: Sequence[tuple[np.ndarray, np.ndarray]],
    settings: BaselineSettings,
    *,
    sheet_widths: Sequence[int] | None = None,
    pixels_per_sheet: int = 20000,
    seed: int = 0,
    threads: int = 1,
    log: Callable[[str], None] = print,
) -> PixelModel:
    """Fit the learned baseline on ``(rgb, truth mask)`` pairs of annotated sheets.

    Pixels are sampled inside each sheet region, with plant and background weighted equally per
    sheet so that sparse sheets count. The threshold is then chosen on the same sheets to
    maximise pooled IoU *after* the object filter and clean-up — the mask that is scored.
    ``sheet_widths`` are the sheets' own widths when the images are reduced decodes.
    Sheets are analysed and thresholds scored on ``threads`` threads (numpy and scipy release
    the GIL); pixel sampling stays in sheet order, so the model does not depend on ``threads``.
    """
    if not samples:
        raise ValueError("the learned baseline needs at least one annotated sheet")
    rng = np.random.default_rng(seed)
    widths = list(sheet_widths) if sheet_widths is not None else [r.shape[1] for r, _ in samples]
    if len(widths) != len(samples):
        raise ValueError(f"{len(samples)} samples but {len(widths)} sheet widths")

    def analysed(sample: tuple[np.ndarray, np.ndarray]) -> tuple[SheetAnalysis, np.ndarray]:
        a = analyse(sample[0], settings)
        return a, _truth_on(sample[1], a.sheet.shape)

    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        pairs = list(pool.map(analysed, samples))
    xs, ys, ws, analyses = [], [], [], []
    for (a, t), width in zip(pairs, widths, strict=True):
        analyses.append((a, t, width))
        idx = np.flatnonzero(a.sheet.ravel())
        idx = rng.choice(idx, size=min(pixels_per_sheet, idx.size), replace=False)
        y = t.ravel()[idx].astype(np.float64)
        n_pos = max(y.sum(), 1.0)
        n_neg = max(len(y) - y.sum(), 1.0)
        xs.append(a.features.reshape(-1, a.features.shape[-1])[idx])
        ys.append(y)
        ws.append(np.where(y > 0, 0.5 / n_pos, 0.5 / n_neg))
    x = np.concatenate(xs).astype(np.float64)
    mean, std = x.mean(0), x.std(0) + 1e-6
    beta = _logistic((x - mean) / std, np.concatenate(ys), np.concatenate(ws) * len(samples))
    model = PixelModel(
        mean=mean.tolist(),
        std=std.tolist(),
        weights=beta[:-1].tolist(),
        bias=float(beta[-1]),
        threshold=0.5,
        n_sheets=len(samples),
    )
    model.threshold, model.fit_iou = _best_threshold(model, analyses, settings, threads)
    log(
        f"learned baseline on {len(samples)} sheets: threshold {model.threshold:.2f}, "
        f"pooled IoU on them {model.fit_iou:.4f}"
    )
    return model


def _best_threshold(
    model: PixelModel,
    analyses: list[tuple[SheetAnalysis, np.ndarray, int]],
    settings: BaselineSettings,
    threads: int = 1,
) -> tuple[float, float]:
    """The probability cut with the best pooled IoU of the finished masks on the fitting sheets."""
    grid = np.round(np.arange(0.3, 0.99, 0.04), 2)

    def counts(item: tuple[SheetAnalysis, np.ndarray, int]) -> np.ndarray:
        """Intersection and union (pixel counts) of one sheet's finished mask at each cut."""
        a, truth, width = item
        prob, _ = plant_score(a, model)
        shape = a.sheet.shape
        out = np.zeros((2, len(grid)), np.int64)
        for i, cut in enumerate(grid):
            mask = finish(prob > cut, a, settings, width, (shape[1], shape[0]))
            out[:, i] = np.logical_and(mask, truth).sum(), np.logical_or(mask, truth).sum()
        return out

    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        inter, union = sum(pool.map(counts, analyses), np.zeros((2, len(grid)), np.int64))
    iou = inter / np.maximum(union, 1)
    best = int(np.argmax(iou))
    return float(grid[best]), float(iou[best])


# --------------------------------------------------------------------------- sheets of a run


def load_sheet(row: dict, settings: BaselineSettings) -> np.ndarray:
    """A manifest row's sheet, decoded no larger than the analysis needs (JPEG draft mode)."""
    size = working_size(int(row["width"]), int(row["height"]), settings.long_side)
    return load_rgb(row["path"], min_size=size)


def fit_rows(
    rows: pd.DataFrame,
    settings: BaselineSettings,
    log: Callable[[str], None] = print,
    threads: int = 1,
) -> PixelModel:
    """Fit the learned baseline on manifest rows with ``path, width, height, mask_path``."""
    records = rows.to_dict("records")

    def sample(row: dict) -> tuple[np.ndarray, np.ndarray]:
        return load_sheet(row, settings), read_mask(row["mask_path"])

    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        samples = list(pool.map(sample, records))
    widths = [int(row["width"]) for row in records]
    return fit_model(samples, settings, sheet_widths=widths, threads=threads, log=log)


def segment_rows(
    rows: pd.DataFrame,
    out_dir: Path,
    settings: BaselineSettings,
    model: PixelModel | None,
    *,
    long_side: int | None = None,
    log: Callable[[str], None] = print,
) -> pd.DataFrame:
    """Write the baseline mask of every ``ok`` manifest row in the sheet's geometry.

    Masks have the sheet's own size, or its aspect at ``long_side`` — the geometry ``predict``
    writes — so the baseline is scored and measured exactly like the network. The table has
    ``predict``'s columns; an unreadable sheet is an ``error`` row, not the end of the job.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    done = []
    todo = rows[rows["status"] == "ok"].to_dict("records")
    progress = Progress(len(todo), log, "segmented")
    for row in todo:
        w, h = int(row["width"]), int(row["height"])
        mask_w, mask_h = output_size(w, h, long_side)
        base = {"sheet_id": row["sheet_id"], "sheet_w": w, "sheet_h": h}
        try:
            mask = segment(load_sheet(row, settings), settings, model, (mask_w, mask_h), w)
        except SheetError as exc:
            done.append({**base, "status": "error", "error": exc.reason, "mask_path": ""})
            progress.update()
            continue
        path = out_dir / f"{row['sheet_id']}.png"
        write_mask(path, mask)
        done.append({**base, "status": "ok", "error": "", "mask_path": str(path),
                     "mask_w": mask_w, "mask_h": mask_h})  # fmt: skip
        progress.update()
    return pd.DataFrame(done, columns=PREDICTION_COLUMNS)


def run(inputs, outputs, params, *, threads: int, log: Callable[[str], None]) -> None:
    """Rule baseline: fit on the train and val sheets, score the masks of the test sheets with
    evaluate's code (same split, mask geometry and scoring as the network)."""
    from herbseg.stages.evaluate import evaluate

    settings = settings_from(BaselineSettings, params.baseline, "baseline")
    sheets = read_tables(inputs.sheets, "text")
    rows = read_table(inputs.split, "split").merge(
        sheets[sheets["status"] == "ok"], on="sheet_id", how="left"
    )
    if rows["mask_path"].isna().any():
        raise ValueError("split names sheets that are not annotated ok sheets")
    model = None
    if settings.method == "learned":
        fit = rows[rows["split"].isin(["train", "val"])]
        model = fit_rows(fit, settings, log=log, threads=threads)
    save_fitted(outputs.model, settings, model)
    test = rows[rows["split"] == "test"]
    masks = Path(outputs.masks)
    table = segment_rows(test, masks, settings, model, long_side=params.long_side, log=log)
    failed = table[table["status"] != "ok"]
    if len(failed):
        raise ValueError(f"baseline failed on test sheets: {', '.join(failed['sheet_id'])}")
    items = table[["sheet_id", "mask_path"]].rename(columns={"mask_path": "pred_path"})
    truth = test[["sheet_id", "mask_path"]].rename(columns={"mask_path": "truth_path"})
    per_sheet, summary = evaluate(items.merge(truth, on="sheet_id"))
    write_csv(per_sheet, outputs.per_sheet)
    write_csv(summary, outputs.summary)
    log("baseline, test split: " + ", ".join(f"{k} {v:.4f}" for k, v in summary.iloc[0].items()))
